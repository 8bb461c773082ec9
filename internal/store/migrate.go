package store

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"testing/fstest"
	"text/template"

	"github.com/pressly/goose/v3"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// renderedMigrations renders the shared migration templates for d.
func renderedMigrations(d dialect) (fs.FS, error) {
	out := fstest.MapFS{}
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		src, err := fs.ReadFile(migrationFiles, "migrations/"+e.Name())
		if err != nil {
			return nil, err
		}
		tpl, err := template.New(e.Name()).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", e.Name(), err)
		}
		var buf bytes.Buffer
		if err := tpl.Execute(&buf, d.tokens()); err != nil {
			return nil, fmt.Errorf("migration %s: %w", e.Name(), err)
		}
		out[e.Name()] = &fstest.MapFile{Data: buf.Bytes(), Mode: 0o444}
	}
	return out, nil
}

func (db *DB) provider() (*goose.Provider, error) {
	fsys, err := renderedMigrations(db.dialect)
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(db.dialect.gooseDialect(), db.w, fsys,
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(slog.New(slog.DiscardHandler)))
}

// Migrate applies pending migrations and returns the versions applied.
func (db *DB) Migrate(ctx context.Context) ([]int64, error) {
	p, err := db.provider()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var applied []int64
	for _, r := range res {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

// SchemaVersion returns the database's schema version and the newest this
// binary knows.
func (db *DB) SchemaVersion(ctx context.Context) (current, known int64, err error) {
	p, err := db.provider()
	if err != nil {
		return 0, 0, err
	}
	srcs := p.ListSources()
	if len(srcs) > 0 {
		known = srcs[len(srcs)-1].Version
	}
	current, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, known, fmt.Errorf("read schema version: %w", err)
	}
	return current, known, nil
}

// checkSchema refuses a database migrated by a newer binary.
func (db *DB) checkSchema(ctx context.Context) error {
	current, known, err := db.SchemaVersion(ctx)
	if err != nil {
		return &UnreachableError{URL: db.url, Err: err}
	}
	if current > known {
		return &SchemaTooNewError{Database: current, Binary: known}
	}
	return nil
}
