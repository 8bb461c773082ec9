package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/store"
)

func newBackupCmd(g *globals) *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "backup --to FILE",
		Short: "Copy the SQLite database to FILE, consistently, while the server runs",
		Long: `Copy the SQLite database named by --db to FILE while the server keeps running.
The copy is one consistent snapshot (SQLite's VACUUM INTO): every transaction
committed before the backup began, nothing half-written. FILE must not exist;
it is checked (integrity_check) and fsynced before the command succeeds.

For PostgreSQL use pg_dump -Fc instead (see the README, "Backups").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usagef("backup: give --to FILE, a new file for the copy")
			}
			info, err := store.Backup(cmd.Context(), g.db, to)
			if err != nil {
				return backupErr(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup %s: %d bytes, schema version %d, %d journal events\n",
				info.Path, info.Bytes, info.SchemaVersion, info.JournalEvents)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "file to write the backup to (must not exist)")
	return cmd
}

func newRestoreCmd(g *globals) *cobra.Command {
	var from string
	cmd := &cobra.Command{
		Use:   "restore --from FILE",
		Short: "Put a backup in place as the SQLite database named by --db",
		Long: `Restore a backup made by 'tradeplane backup' as the SQLite database named by
--db. The backup is checked first (integrity, a schema this binary knows). An
existing database is never replaced: stop the server and move the old file
(and its -wal and -shm files) aside first. Then start the server; it applies
any newer migrations and reconciles open orders with the venues.

For PostgreSQL use pg_restore (see the README, "Backups").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" {
				return usagef("restore: give --from FILE, a backup made by 'tradeplane backup'")
			}
			info, err := store.Restore(cmd.Context(), from, g.db)
			if err != nil {
				return backupErr(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s into %s: schema version %d, %d journal events; start the server to resume\n",
				from, info.Path, info.SchemaVersion, info.JournalEvents)
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "backup file to restore")
	return cmd
}

// backupErr makes a PostgreSQL or in-memory --db a usage error (exit 2).
func backupErr(err error) error {
	if errors.Is(err, store.ErrBackupEngine) {
		return usagef("%v", err)
	}
	return describeDBError(err)
}
