package store

import (
	"io/fs"
	"strconv"
	"strings"
)

// KnownSchemaVersion is the newest schema version this binary's migrations
// reach, without opening a database: the highest NNNNN_ prefix among them.
func KnownSchemaVersion() int64 {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return 0
	}
	var max int64
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		if !ok {
			continue
		}
		if v, err := strconv.ParseInt(num, 10, 64); err == nil && v > max {
			max = v
		}
	}
	return max
}
