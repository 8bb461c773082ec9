package store

import "strings"

// anonymousPlaceholders returns q with its parameters $1, $2, ... $n
// written as SQLite's anonymous "?" when each appears exactly once and in
// that order, so the k-th "?" binds the same argument $k did; otherwise q
// unchanged. The store writes "$N" for both dialects, and the SQLite
// driver looks every named parameter's name up (a C string copied into Go
// per parameter, and SQLite's own lookup walks the statement's name list,
// linear per parameter) on every execution: a tenth of a replay step's
// binding cost was finding names. Anonymous parameters have none.
//
// Quoted strings and identifiers and comments are copied as they are. Any
// other parameter form (?, ?NNN, :name, @name, $name) leaves q unchanged.
func anonymousPlaceholders(q string) string {
	if !strings.Contains(q, "$") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q))
	next := 1
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			end := closing(q, i+1, c)
			if end < 0 {
				return q
			}
			b.WriteString(q[i : end+1])
			i = end + 1
		case c == '[':
			end := strings.IndexByte(q[i+1:], ']')
			if end < 0 {
				return q
			}
			b.WriteString(q[i : i+1+end+1])
			i += end + 2
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			end := strings.IndexByte(q[i:], '\n')
			if end < 0 {
				end = len(q) - i
			}
			b.WriteString(q[i : i+end])
			i += end
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				return q
			}
			b.WriteString(q[i : i+2+end+2])
			i += end + 4
		case c == '?' || c == ':' || c == '@':
			return q
		case c == '$':
			j := i + 1
			n := 0
			for j < len(q) && q[j] >= '0' && q[j] <= '9' && n <= next {
				n = n*10 + int(q[j]-'0')
				j++
			}
			if j == i+1 || n != next || q[i+1] == '0' || (j < len(q) && isIdentByte(q[j])) {
				return q
			}
			b.WriteByte('?')
			next++
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// closing is the index of the quote q that ends a quoted run starting at
// from (a doubled quote is an escaped one), or -1.
func closing(s string, from int, q byte) int {
	for i := from; i < len(s); i++ {
		if s[i] != q {
			continue
		}
		if i+1 < len(s) && s[i+1] == q {
			i++
			continue
		}
		return i
	}
	return -1
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}
