package binancetest

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// docs holds Binance's documented (or recorded) answers, one file per
// endpoint or event, each opening with "//" lines that name its source
// section. The fake answers by editing these bytes, never by marshalling Go
// values: the key order, number formats and field case stay as Binance
// sends them, so an adapter that misreads them fails against the fake too.
//
//go:embed docs/*.json
var docs embed.FS

// Doc returns the documented example name (a file of docs/, e.g.
// "ws_execution_report.json") without its leading "//" source lines. It
// panics on a name that is not there: fixtures are part of the binary.
func Doc(name string) []byte {
	b, err := docs.ReadFile("docs/" + name)
	if err != nil {
		panic(fmt.Sprintf("binancetest: no documented example %q: %v", name, err))
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	body := false
	for sc.Scan() {
		line := sc.Text()
		if !body && strings.HasPrefix(strings.TrimSpace(line), "//") {
			continue
		}
		body = true
		out.WriteString(line + "\n")
	}
	return out.Bytes()
}

// DocNames lists every documented example the fake holds.
func DocNames() []string {
	ents, _ := docs.ReadDir("docs")
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".json") {
			out = append(out, e.Name())
		}
	}
	return out
}

// Edit returns the JSON object raw with the values of some of its top-level
// keys replaced, keeping every key where it was and every other byte as it
// was. kv alternates key and the new value as raw JSON text (`"BUY"`, `12`,
// `null`, `true`). A key the object does not have is an error: an edit must
// never add what Binance does not send.
func Edit(raw []byte, kv ...string) ([]byte, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("edit: odd number of key/value arguments")
	}
	want := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		if !json.Valid([]byte(kv[i+1])) {
			return nil, fmt.Errorf("edit: value of %q is not JSON: %s", kv[i], kv[i+1])
		}
		want[kv[i]] = kv[i+1]
	}
	type span struct {
		start, end int64
		val        string
	}
	var spans []span
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("edit: not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("edit: %w", err)
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("edit: value of %q: %w", key, err)
		}
		end := dec.InputOffset()
		if nv, ok := want[key]; ok && !seen[key] {
			seen[key] = true
			spans = append(spans, span{end - int64(len(v)), end, nv})
		}
	}
	for k := range want {
		if !seen[k] {
			return nil, fmt.Errorf("edit: the documented object has no key %q", k)
		}
	}
	var out bytes.Buffer
	var at int64
	for _, s := range spans {
		out.Write(raw[at:s.start])
		out.WriteString(s.val)
		at = s.end
	}
	out.Write(raw[at:])
	return out.Bytes(), nil
}

// mustEdit is Edit for the fake's own templates, whose keys are known.
func mustEdit(raw []byte, kv ...string) []byte {
	b, err := Edit(raw, kv...)
	if err != nil {
		panic(err)
	}
	return b
}

// compact removes the documentation's layout whitespace (a stream frame is
// one line), keeping the key order.
func compact(raw []byte) []byte {
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		panic(fmt.Sprintf("binancetest: documented example is not JSON: %v", err))
	}
	return out.Bytes()
}

// element returns the i-th element of the JSON array raw, as raw bytes.
func element(raw []byte, i int) []byte {
	var arr []json.RawMessage
	if err := json.Unmarshal(raw, &arr); err != nil || i >= len(arr) {
		panic(fmt.Sprintf("binancetest: documented array has no element %d", i))
	}
	return arr[i]
}

// field returns the raw value of key in the JSON object raw.
func field(raw []byte, key string) []byte {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		panic(fmt.Sprintf("binancetest: documented example is not an object: %v", err))
	}
	v, ok := m[key]
	if !ok {
		panic(fmt.Sprintf("binancetest: documented example has no %q", key))
	}
	return v
}

// join renders raw JSON values as an array.
func join(items [][]byte) []byte {
	var out bytes.Buffer
	out.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			out.WriteByte(',')
		}
		out.Write(it)
	}
	out.WriteByte(']')
	return out.Bytes()
}

// jstr quotes s as a JSON string.
func jstr(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// writeRaw writes a documented body as it is.
func writeRaw(w io.Writer, b []byte) { _, _ = w.Write(b) }
