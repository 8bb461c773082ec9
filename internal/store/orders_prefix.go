package store

import (
	"context"
	"fmt"
	"strings"
)

// likeEscaper escapes LIKE's metacharacters (and the escape character
// itself) so a prefix matches literally.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// OrdersByClientPrefix returns the stored orders whose client order id
// starts with prefix (compared exactly: byte for byte, case-sensitive, with
// '%' and '_' taken literally), ordered by client order id. An empty prefix
// is refused, so a caller cannot list every order by mistake. Trade All uses
// it to find what a step sent under ids derived from its run key.
//
// SQLite compares with its BINARY collation, so a range scan on the primary
// key is exact there; PostgreSQL's ordering follows the database collation,
// so it uses LIKE with the prefix escaped, which is exact whatever the
// collation.
func (db *DB) OrdersByClientPrefix(ctx context.Context, prefix string) ([]Order, error) {
	if prefix == "" {
		return nil, fmt.Errorf("orders by client order id prefix: empty prefix")
	}
	q := `SELECT ` + orderCols + ` FROM orders WHERE client_order_id >= $1 AND client_order_id < $2 ORDER BY client_order_id`
	args := []any{prefix, prefix + "\U0010FFFF"}
	if db.dialect.name() == "postgres" {
		q = `SELECT ` + orderCols + ` FROM orders WHERE client_order_id LIKE $1 ESCAPE '\' ORDER BY client_order_id`
		args = []any{likeEscaper.Replace(prefix) + "%"}
	}
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("orders by client order id prefix %q: %w", prefix, db.mapErr(err))
	}
	defer rows.Close()
	var out []Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, fmt.Errorf("orders by client order id prefix %q: %w", prefix, err)
		}
		if strings.HasPrefix(o.ClientOrderID, prefix) {
			out = append(out, o)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("orders by client order id prefix %q: %w", prefix, err)
	}
	return out, nil
}
