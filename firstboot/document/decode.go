package document

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Decode reads one kiln/v1 YAML or JSON document (JSON is YAML too) into v,
// a pointer to a struct, strictly: an unknown or repeated key, a value of
// the wrong shape or type, an anchor or alias, an empty input or a second
// document is an *Error naming file, line and field. It neither defaults
// nor validates; the Lines it returns let validation errors point at the
// line that set a field. Types that implement yaml.Unmarshaler decode
// themselves; a *Error they return is placed under their field.
func Decode(file string, data []byte, v any) (Lines, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return nil, fmt.Errorf("document: Decode needs a non-nil pointer, got %T", v)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: file, Msg: "empty document"}
		}
		return nil, syntaxError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, syntaxError(file, err)
		}
		return nil, &Error{File: file, Line: extra.Line, Msg: "more than one document; want exactly one"}
	}
	if len(doc.Content) != 1 {
		return nil, &Error{File: file, Msg: "empty document"}
	}
	root := doc.Content[0]
	lines := Lines{}
	w := walker{file: file, lines: lines}
	if err := w.check(root, rv.Type().Elem(), ""); err != nil {
		return nil, err
	}
	if err := root.Decode(v); err != nil {
		// check has looked at every node; this is a shape it did not foresee.
		return nil, syntaxError(file, err)
	}
	return lines, nil
}

// Lines maps the field paths of a decoded document to the lines that set
// them.
type Lines map[string]int

// Of is the line of field, or of the nearest enclosing field that has one
// (a baseurl given as one string has no baseurl[0]); 0 when none.
func (m Lines) Of(field string) int {
	for f := field; f != ""; f = Parent(f) {
		if l, ok := m[f]; ok {
			return l
		}
	}
	return 0
}

// Parent drops the last segment of a field path: a[1].b -> a[1] -> a, and
// labels["kubernetes.io/os"] -> labels.
func Parent(f string) string {
	if strings.HasSuffix(f, `"]`) {
		if i := strings.LastIndex(f, `["`); i >= 0 {
			return f[:i]
		}
	}
	i := strings.LastIndexAny(f, ".[")
	if i < 0 {
		return ""
	}
	return f[:i]
}

// Join appends a struct field's key to a path.
func Join(path, key string) string {
	switch {
	case key == "":
		return path
	case path == "":
		return key
	case strings.HasPrefix(key, "["):
		return path + key
	}
	return path + "." + key
}

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// KeyPath spells a map entry's path so that keys with dots or slashes
// (sysctl names, Kubernetes label keys) stay unambiguous:
// sysctl["net.ipv4.ip_forward"], but kubernetes.images.haproxy.
func KeyPath(path, key string) string {
	if plainKey.MatchString(key) {
		return Join(path, key)
	}
	return path + "[" + strconv.Quote(key) + "]"
}

var (
	yamlLineErr = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
)

func syntaxError(file string, err error) error {
	var msg string
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	} else {
		msg = err.Error()
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	e := &Error{File: file, Msg: msg}
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = m[2]
	}
	return e
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

type walker struct {
	file  string
	lines Lines
}

func (w walker) errorAt(n *yaml.Node, field, format string, args ...any) *Error {
	return &Error{File: w.file, Line: n.Line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// check walks the node tree against the Go type it will be decoded into and
// reports, with a field path and a line, what yaml.v3's own strict mode
// reports without a path or not at all.
func (w walker) check(n *yaml.Node, t reflect.Type, path string) error {
	if path != "" {
		w.lines[path] = n.Line
	}
	if n.Anchor != "" || n.Kind == yaml.AliasNode {
		return w.errorAt(n, path, "YAML anchors and aliases are not supported")
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil // leaves the zero value
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return w.leaf(n, t, path)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.check(n, t.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return w.shapeError(n, path, "a mapping")
		}
		fields := structFields(t)
		return w.eachKey(n, path, Join, "field", func(k, val *yaml.Node, fp string) error {
			f, ok := fields[k.Value]
			if !ok {
				return w.errorAt(k, fp, "unknown field%s", hint(k.Value, fields))
			}
			return w.check(val, f.Type, fp)
		})
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return w.leaf(n, t, path)
		}
		if n.Kind != yaml.SequenceNode {
			return w.shapeError(n, path, "a list")
		}
		for i, e := range n.Content {
			if err := w.check(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return w.shapeError(n, path, "a mapping")
		}
		return w.eachKey(n, path, KeyPath, "key", func(_, val *yaml.Node, fp string) error {
			return w.check(val, t.Elem(), fp)
		})
	default:
		return w.leaf(n, t, path)
	}
}

// eachKey walks a mapping's entries for a struct ("field") or a map
// ("key"): every key a plain string, none given twice, each entry's path
// spelt by keyPath.
func (w walker) eachKey(n *yaml.Node, path string, keyPath func(path, key string) string, what string,
	entry func(k, val *yaml.Node, fp string) error) error {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return w.errorAt(k, path, "mapping keys must be plain strings")
		}
		fp := keyPath(path, k.Value)
		if seen[k.Value] {
			return w.errorAt(k, fp, "%s given twice", what)
		}
		seen[k.Value] = true
		if err := entry(k, val, fp); err != nil {
			return err
		}
	}
	return nil
}

// leaf decodes one scalar (or a custom type) on its own so that a wrong type
// is reported against its field rather than as a bare yaml.v3 message.
// Booleans and numbers are YAML's own: yaml.v3 takes yes, on and "yes" for
// true for YAML 1.1's sake; here a quoted "true" or "2" is a string.
func (w walker) leaf(n *yaml.Node, t reflect.Type, path string) error {
	custom := reflect.PointerTo(t).Implements(unmarshalerType)
	if !custom && n.Kind != yaml.ScalarNode {
		return w.shapeError(n, path, "a single value")
	}
	if !custom {
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			if n.ShortTag() != "!!int" {
				return w.errorAt(n, path, "%q is not a whole number", n.Value)
			}
		case reflect.Bool:
			if n.ShortTag() != "!!bool" {
				return w.errorAt(n, path, "%q is not a boolean (want true or false)", n.Value)
			}
		}
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			return &Error{File: w.file, Field: Join(path, ce.Field), Line: n.Line, Msg: ce.Msg}
		}
		msg := err.Error()
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			msg = te.Errors[0]
		}
		if m := yamlLineErr.FindStringSubmatch(strings.TrimPrefix(msg, "yaml: ")); m != nil {
			msg = m[2]
			// The inner "line N:" of a custom UnmarshalYAML's error repeats the line.
			if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
				msg = m[2]
			}
		}
		return w.errorAt(n, path, "%s", msg)
	}
	return nil
}

func (w walker) shapeError(n *yaml.Node, path, want string) error {
	got := map[yaml.Kind]string{
		yaml.MappingNode:  "a mapping",
		yaml.SequenceNode: "a list",
		yaml.ScalarNode:   "a single value",
		yaml.DocumentNode: "a document",
		yaml.AliasNode:    "an alias",
	}[n.Kind]
	if n.Kind == yaml.ScalarNode {
		got = fmt.Sprintf("%q", n.Value)
	}
	return w.errorAt(n, path, "want %s, got %s", want, got)
}

// structFields maps a struct's YAML keys to its fields.
func structFields(t reflect.Type) map[string]reflect.StructField {
	fields := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f
	}
	return fields
}

// hint names the known key closest to k when it is a plausible typo, and
// otherwise every key the mapping takes.
func hint(k string, fields map[string]reflect.StructField) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	slices.Sort(names)
	if s := Suggest(k, names); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return " (want one of: " + strings.Join(names, ", ") + ")"
}

// Suggest returns the one of names closest to k when it is within two
// edits (case aside), the first such in order; "" when none is.
func Suggest(k string, names []string) string {
	best, bestD := "", 3
	for _, f := range names {
		if d := editDistance(strings.ToLower(k), strings.ToLower(f)); d < bestD {
			best, bestD = f, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
