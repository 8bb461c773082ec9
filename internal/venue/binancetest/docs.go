package binancetest

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
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
	if b, ok := docCache.Load(name); ok {
		return slices.Clone(b.([]byte))
	}
	b := readDoc(name)
	docCache.Store(name, b)
	return slices.Clone(b)
}

// docCache holds each documented example once read: the fake edits them on
// every answer.
var docCache sync.Map

func readDoc(name string) []byte {
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
	t, err := templateOf(raw)
	if err != nil {
		return nil, err
	}
	vals := make([]string, len(t.keys))
	for i := 0; i < len(kv); i += 2 {
		k, v := kv[i], kv[i+1]
		if !json.Valid([]byte(v)) {
			return nil, fmt.Errorf("edit: value of %q is not JSON: %s", k, v)
		}
		j, ok := t.index[k]
		if !ok {
			return nil, fmt.Errorf("edit: the documented object has no key %q", k)
		}
		vals[j] = v
	}
	var out bytes.Buffer
	out.Grow(len(raw) + 64)
	for i := range t.keys {
		out.Write(t.before[i])
		if vals[i] != "" {
			out.WriteString(vals[i])
		} else {
			out.Write(t.values[i])
		}
	}
	out.Write(t.tail)
	return out.Bytes(), nil
}

// template is a JSON object cut at its top-level values: before[i] is
// the text up to value i, values[i] the value as documented.
type template struct {
	keys   []string
	index  map[string]int
	before [][]byte
	values [][]byte
	tail   []byte
}

// templates caches each object's cuts by its text: the fake edits the
// same few objects on every answer.
var templates sync.Map

func templateOf(raw []byte) (*template, error) {
	if t, ok := templates.Load(string(raw)); ok {
		return t.(*template), nil
	}
	own := slices.Clone(raw)
	dec := json.NewDecoder(bytes.NewReader(own))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("edit: not a JSON object")
	}
	t := &template{index: map[string]int{}}
	var at int64
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
		start := end - int64(len(v))
		if _, dup := t.index[key]; !dup {
			t.index[key] = len(t.keys)
		}
		t.keys = append(t.keys, key)
		t.before = append(t.before, own[at:start])
		t.values = append(t.values, own[start:end])
		at = end
	}
	t.tail = own[at:]
	templates.Store(string(own), t)
	return t, nil
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
	if v, ok := parsed.Load(string(raw)); ok {
		arr = v.([]json.RawMessage)
	} else {
		if err := json.Unmarshal(raw, &arr); err != nil {
			panic(fmt.Sprintf("binancetest: documented example is not an array: %v", err))
		}
		parsed.Store(string(raw), arr)
	}
	if i >= len(arr) {
		panic(fmt.Sprintf("binancetest: documented array has no element %d", i))
	}
	return arr[i]
}

// parsed caches documented arrays by their text.
var parsed sync.Map

// field returns the raw value of key in the JSON object raw.
func field(raw []byte, key string) []byte {
	t, err := templateOf(raw)
	if err != nil {
		panic(fmt.Sprintf("binancetest: documented example is not an object: %v", err))
	}
	i, ok := t.index[key]
	if !ok {
		panic(fmt.Sprintf("binancetest: documented example has no %q", key))
	}
	return t.values[i]
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

// EditElems is Edit for a JSON array: the elements at the given positions
// are replaced by new raw JSON values, every other byte kept as it was. kv
// alternates a position and its new value; a position the array does not
// have is an error, since an edit must never add what Binance does not send.
func EditElems(raw []byte, kv ...any) ([]byte, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("edit array: odd number of position/value arguments")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, fmt.Errorf("edit array: not a JSON array")
	}
	var starts, ends []int64
	for dec.More() {
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("edit array: element %d: %w", len(starts), err)
		}
		end := dec.InputOffset()
		starts, ends = append(starts, end-int64(len(v))), append(ends, end)
	}
	vals := make([]string, len(starts))
	for i := 0; i < len(kv); i += 2 {
		at, ok := kv[i].(int)
		v, vok := kv[i+1].(string)
		if !ok || !vok {
			return nil, fmt.Errorf("edit array: argument %d: want an int position and a string value", i)
		}
		if at < 0 || at >= len(starts) {
			return nil, fmt.Errorf("edit array: the documented array has no element %d", at)
		}
		if !json.Valid([]byte(v)) {
			return nil, fmt.Errorf("edit array: value of element %d is not JSON: %s", at, v)
		}
		vals[at] = v
	}
	var out bytes.Buffer
	out.Grow(len(raw) + 64)
	var at int64
	for i := range starts {
		out.Write(raw[at:starts[i]])
		if vals[i] != "" {
			out.WriteString(vals[i])
		} else {
			out.Write(raw[starts[i]:ends[i]])
		}
		at = ends[i]
	}
	out.Write(raw[at:])
	return out.Bytes(), nil
}

// mustEditElems is EditElems for the fake's own templates.
func mustEditElems(raw []byte, kv ...any) []byte {
	b, err := EditElems(raw, kv...)
	if err != nil {
		panic(err)
	}
	return b
}
