package session

// LockCount is how many per-session locks the manager holds now.
func LockCount(m *Manager) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.locks)
}
