package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"
	"sync"
)

// SQLite connections keep their prepared statements: parsing SQL was a
// third of the CPU of a replay step (every Exec and Query on a *sql.DB or
// *sql.Tx prepares its text again), and the store's statements are a
// fixed, small set. A connection's cache is bounded (stmtCacheMax); a
// statement already in use on the connection (its rows still open while
// the same text runs again) runs uncached.

// stmtCacheMax bounds one connection's cached statements; past it a new
// text replaces an idle one.
const stmtCacheMax = 256

// cachingConnector opens connections of drv whose statements are kept.
type cachingConnector struct {
	drv driver.Driver
	dsn string
}

var _ driver.Connector = cachingConnector{}

// openCachedSQLite is sql.Open("sqlite", dsn) with statement caching.
func openCachedSQLite(dsn string) (*sql.DB, error) {
	probe, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	drv := probe.Driver()
	if err := probe.Close(); err != nil {
		return nil, err
	}
	return sql.OpenDB(cachingConnector{drv: drv, dsn: dsn}), nil
}

func (c cachingConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return newCachingConn(conn)
}

func (c cachingConnector) Driver() driver.Driver { return c.drv }

// innerConn is what the SQLite driver's connections implement and the
// cache relies on.
type innerConn interface {
	driver.Conn
	driver.ConnPrepareContext
	driver.ConnBeginTx
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type cachingConn struct {
	inner innerConn
	mu    sync.Mutex // database/sql uses a connection from one goroutine at a time; rows may close from another
	stmts map[string]*cachedStmt
}

type cachedStmt struct {
	s    driver.Stmt
	busy bool // rows of it are open
}

var (
	_ driver.ConnPrepareContext = (*cachingConn)(nil)
	_ driver.ConnBeginTx        = (*cachingConn)(nil)
	_ driver.ExecerContext      = (*cachingConn)(nil)
	_ driver.QueryerContext     = (*cachingConn)(nil)
	_ driver.Pinger             = (*cachingConn)(nil)
	_ driver.SessionResetter    = (*cachingConn)(nil)
	_ driver.Validator          = (*cachingConn)(nil)
)

func newCachingConn(c driver.Conn) (driver.Conn, error) {
	in, ok := c.(innerConn)
	if !ok {
		c.Close()
		return nil, errors.New("sqlite driver connection lacks the context interfaces the statement cache needs")
	}
	return &cachingConn{inner: in, stmts: map[string]*cachedStmt{}}, nil
}

func (c *cachingConn) Prepare(q string) (driver.Stmt, error) { return c.inner.Prepare(q) }
func (c *cachingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	return c.inner.PrepareContext(ctx, q)
}
func (c *cachingConn) Begin() (driver.Tx, error) {
	return c.inner.BeginTx(context.Background(), driver.TxOptions{})
}
func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	// BEGIN and its COMMIT run whole (see uninterrupted); database/sql
	// still rolls the transaction back when ctx ends before the commit.
	ctx, err := uninterrupted(ctx)
	if err != nil {
		return nil, err
	}
	return c.inner.BeginTx(ctx, opts)
}

// uninterrupted is ctx without its cancellation, for the statements that
// write rows (INSERT, UPDATE, DELETE; see writes) and for BEGIN and
// COMMIT. The driver starts a goroutine per statement to watch a context
// that can end, to interrupt SQLite with it: a dozen goroutines per
// session step, for single-row writes that take microseconds and that
// nothing gains by stopping half way (a transaction is rolled back whole
// either way). A context that has already ended is its error: the
// statement does not start. Reads, a backup (VACUUM INTO) and DDL keep
// their cancellation: a long report stops when its caller goes.
func uninterrupted(ctx context.Context) (context.Context, error) {
	if ctx.Done() == nil {
		return ctx, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

// stmtContext is the context q runs with: uninterrupted for a row write.
func stmtContext(ctx context.Context, q string) (context.Context, error) {
	if !writes(q) { // reads, VACUUM INTO (a backup) and DDL stay interruptible
		return ctx, nil
	}
	return uninterrupted(ctx)
}
func (c *cachingConn) Ping(ctx context.Context) error         { return c.inner.Ping(ctx) }
func (c *cachingConn) ResetSession(ctx context.Context) error { return c.inner.ResetSession(ctx) }
func (c *cachingConn) IsValid() bool                          { return c.inner.IsValid() }
func (c *cachingConn) CheckNamedValue(nv *driver.NamedValue) error {
	return checkNamedValue(c.inner, nv)
}

// checkNamedValue defers to the driver's own conversion when it has one.
func checkNamedValue(in driver.Conn, nv *driver.NamedValue) error {
	if ch, ok := in.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

func (c *cachingConn) Close() error {
	c.mu.Lock()
	var err error
	for q, s := range c.stmts {
		if e := s.s.Close(); e != nil && err == nil {
			err = e
		}
		delete(c.stmts, q)
	}
	c.mu.Unlock()
	if e := c.inner.Close(); e != nil && err == nil {
		err = e
	}
	return err
}

// take returns q's cached statement marked busy, preparing it on first
// use; nil when it is busy or the cache is full (the caller runs q
// uncached).
func (c *cachingConn) take(ctx context.Context, q string) (*cachedStmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.stmts[q]; ok {
		if s.busy {
			return nil, nil
		}
		s.busy = true
		return s, nil
	}
	if len(c.stmts) >= stmtCacheMax {
		// Full (queries with a varying WHERE): drop one idle statement, a
		// random one by map order, so a text first seen late is cached too.
		for old, s := range c.stmts {
			if !s.busy {
				s.s.Close()
				delete(c.stmts, old)
				break
			}
		}
		if len(c.stmts) >= stmtCacheMax {
			return nil, nil
		}
	}
	// Prepared once per text, so rewriting its parameters costs nothing
	// per execution; the uncached path runs q as written.
	st, err := c.inner.PrepareContext(ctx, anonymousPlaceholders(q))
	if err != nil {
		return nil, err
	}
	s := &cachedStmt{s: st, busy: true}
	c.stmts[q] = s
	return s, nil
}

func (c *cachingConn) release(s *cachedStmt) {
	c.mu.Lock()
	s.busy = false
	c.mu.Unlock()
}

func (c *cachingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	ctx, err := stmtContext(ctx, q)
	if err != nil {
		return nil, err
	}
	s, err := c.take(ctx, q)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return c.inner.ExecContext(ctx, q, args)
	}
	defer c.release(s)
	return s.s.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	ctx, err := stmtContext(ctx, q)
	if err != nil {
		return nil, err
	}
	s, err := c.take(ctx, q)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return c.inner.QueryContext(ctx, q, args)
	}
	rows, err := s.s.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		c.release(s)
		return nil, err
	}
	return &cachedRows{Rows: rows, release: func() { c.release(s) }}, nil
}

// cachedRows frees its statement for the next use when closed.
type cachedRows struct {
	driver.Rows
	release func()
	once    sync.Once
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.once.Do(r.release)
	return err
}

// writes says whether q is a write statement (its first word INSERT,
// UPDATE or DELETE).
func writes(q string) bool {
	q = strings.TrimLeft(q, " \t\r\n")
	for _, w := range [...]string{"INSERT", "UPDATE", "DELETE"} {
		if len(q) >= len(w) && strings.EqualFold(q[:len(w)], w) {
			return true
		}
	}
	return false
}
