package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrBackupEngine: online backup and restore here are for SQLite; a
// PostgreSQL deployment uses pg_dump and pg_restore.
var ErrBackupEngine = errors.New("backup and restore are for SQLite databases; for PostgreSQL use pg_dump -Fc and pg_restore (see the README, \"Backups\")")

// BackupInfo describes a backup file.
type BackupInfo struct {
	Path          string
	Bytes         int64
	SchemaVersion int64
	// JournalEvents is how many journal events the copy holds.
	JournalEvents int64
}

// sqlitePath returns the file of a sqlite: URL, refusing PostgreSQL and
// in-memory databases.
func sqlitePath(rawURL string) (string, error) {
	d, err := dialectFor(rawURL)
	if err != nil {
		return "", err
	}
	if d.name() != "sqlite" {
		return "", ErrBackupEngine
	}
	p := strings.TrimPrefix(rawURL, "sqlite:")
	if p == ":memory:" || strings.Contains(p, "mode=memory") {
		return "", &URLError{URL: rawURL, Reason: "an in-memory database has nothing to back up or restore into"}
	}
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return strings.TrimPrefix(p, "file:"), nil
}

// Backup writes a consistent copy of the SQLite database at dbURL to dest
// while the database stays in use: VACUUM INTO reads one snapshot (a read
// transaction; in WAL mode writers go on meanwhile), so the copy holds
// exactly the transactions committed before it began. The copy is written
// beside dest, fsynced, checked (integrity_check) and renamed into place,
// so dest is either absent or complete. dest must not exist.
func Backup(ctx context.Context, dbURL, dest string) (BackupInfo, error) {
	src, err := sqlitePath(dbURL)
	if err != nil {
		return BackupInfo{}, err
	}
	if _, err := os.Stat(src); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: no database at %s: %w", src, err)
	}
	if _, err := os.Lstat(dest); err == nil {
		return BackupInfo{}, fmt.Errorf("backup: %s exists; give a new file name (a backup never overwrites)", dest)
	}
	tmp := fmt.Sprintf("%s.partial-%d", dest, os.Getpid())
	os.Remove(tmp)
	defer os.Remove(tmp) // gone after the rename; left only on failure

	conn, err := sql.Open("sqlite", "file:"+src+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: open %s: %w", src, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: copy %s: %w", src, err)
	}
	// The copy holds what the database holds (sealed credentials, token
	// hashes): readable by its owner only.
	if err := os.Chmod(tmp, 0o600); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	info, err := inspect(ctx, tmp)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: the copy does not check out: %w", err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	if err := syncDir(filepath.Dir(dest)); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	info.Path = dest
	return info, nil
}

// Restore puts a backup made by Backup in place as the SQLite database at
// dbURL. It checks the backup first (integrity, a schema this binary knows)
// and refuses to replace an existing database: stop the node and move the
// old file aside first. Start the node afterwards; it migrates the copy if
// it is older.
func Restore(ctx context.Context, backup, dbURL string) (BackupInfo, error) {
	dest, err := sqlitePath(dbURL)
	if err != nil {
		return BackupInfo{}, err
	}
	for _, p := range []string{dest, dest + "-wal", dest + "-shm"} {
		if _, err := os.Lstat(p); err == nil {
			return BackupInfo{}, fmt.Errorf("restore: %s exists; stop the node and move the database (and its -wal, -shm files) aside first", p)
		}
	}
	info, err := inspect(ctx, backup)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("restore: %s is not a usable backup: %w", backup, err)
	}
	if known := KnownSchemaVersion(); info.SchemaVersion > known {
		return BackupInfo{}, fmt.Errorf("restore: %w", &SchemaTooNewError{Database: info.SchemaVersion, Binary: known})
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o700); err != nil {
		return BackupInfo{}, fmt.Errorf("restore: %w", err)
	}
	tmp := fmt.Sprintf("%s.partial-%d", dest, os.Getpid())
	defer os.Remove(tmp)
	if err := copyFile(backup, tmp); err != nil {
		return BackupInfo{}, fmt.Errorf("restore: %w", err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return BackupInfo{}, fmt.Errorf("restore: %w", err)
	}
	if err := syncDir(filepath.Dir(dest)); err != nil {
		return BackupInfo{}, fmt.Errorf("restore: %w", err)
	}
	info.Path = dest
	return info, nil
}

// inspect opens a database file read-only and checks it: SQLite's
// integrity_check, a tradeplane schema version, the journal's size.
func inspect(ctx context.Context, path string) (BackupInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return BackupInfo{}, err
	}
	conn, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		return BackupInfo{}, err
	}
	defer conn.Close()
	var check string
	if err := conn.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil {
		return BackupInfo{}, fmt.Errorf("not an SQLite database: %w", err)
	}
	if check != "ok" {
		return BackupInfo{}, fmt.Errorf("integrity check: %s", check)
	}
	info := BackupInfo{Path: path, Bytes: st.Size()}
	if err := conn.QueryRowContext(ctx, "SELECT MAX(version_id) FROM goose_db_version WHERE is_applied").Scan(&info.SchemaVersion); err != nil {
		return BackupInfo{}, fmt.Errorf("not a tradeplane database (no schema version): %w", err)
	}
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM journal_events").Scan(&info.JournalEvents); err != nil {
		return BackupInfo{}, fmt.Errorf("not a tradeplane database (no journal): %w", err)
	}
	return info, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
