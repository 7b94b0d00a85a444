package config

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

// MaxDocumentSize bounds what Load reads: metadata travels through guestinfo
// keys and cloud attributes that are far smaller, so anything bigger is a
// mistake or hostile. It is the agent's limit too (platform.MaxMetadataSize),
// so that a document kiln accepts is one a node accepts.
const MaxDocumentSize = 1 << 20

// Load reads one NodeConfig document (YAML or JSON) from r, applies the
// defaults and validates it. See Parse.
func Load(r io.Reader) (*NodeConfig, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading node config: %w", err)
	}
	if len(data) > MaxDocumentSize {
		return nil, &Error{Msg: fmt.Sprintf("document is larger than %d bytes", MaxDocumentSize)}
	}
	return Parse(data)
}

// Parse decodes one NodeConfig document strictly (YAML or JSON, which is
// YAML too), applies the defaults and validates it. Every user mistake is a
// *Error naming the field and its line; several are returned together (see
// Errors).
func Parse(data []byte) (*NodeConfig, error) {
	var c NodeConfig
	lines, err := unmarshal(data, &c)
	if err != nil {
		return nil, err
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		for _, e := range Errors(err) {
			e.Line = lines.lineOf(e.Field)
		}
		return nil, err
	}
	return &c, nil
}

// Unmarshal decodes a kiln/v1 YAML or JSON document into v (a pointer to a
// struct) strictly: an unknown or repeated field, a value of the wrong shape,
// an anchor or alias, or a second document is a *Error naming the field path
// and line. It neither defaults nor validates. Other kiln/v1 documents (the
// cluster bundle's cluster.yaml) use it so that every kiln document is read
// the same way.
func Unmarshal(data []byte, v any) error {
	_, err := unmarshal(data, v)
	return err
}

// lineMap remembers on which line each field path was written, so that
// Validate's errors, which know only fields, can point at the line.
type lineMap map[string]int

func (m lineMap) lineOf(field string) int {
	for f := field; f != ""; f = parentPath(f) {
		if l, ok := m[f]; ok {
			return l
		}
	}
	return 0
}

func parentPath(f string) string {
	i := strings.LastIndexAny(f, ".[")
	if i < 0 {
		return ""
	}
	return f[:i]
}

var (
	yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	lineErr     = regexp.MustCompile(`^line (\d+): (.*)$`)
)

func unmarshal(data []byte, v any) (lineMap, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return nil, fmt.Errorf("config: Unmarshal needs a non-nil pointer, got %T", v)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{Msg: "empty document"}
		}
		return nil, syntaxError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, syntaxError(err)
		}
		return nil, &Error{Line: extra.Line, Msg: "more than one document; want exactly one"}
	}
	if len(doc.Content) != 1 {
		return nil, &Error{Msg: "empty document"}
	}
	root := doc.Content[0]
	lines := lineMap{}
	if err := check(root, rv.Type().Elem(), "", lines); err != nil {
		return nil, err
	}
	if err := root.Decode(v); err != nil {
		// check has already looked at every node; this is a shape it did not foresee.
		return nil, syntaxError(err)
	}
	return lines, nil
}

func syntaxError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  ")
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &Error{Line: n, Msg: m[2]}
	}
	if m := lineErr.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &Error{Line: n, Msg: m[2]}
	}
	return &Error{Msg: strings.TrimPrefix(msg, "yaml: ")}
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// check walks the node tree against the Go type it will be decoded into and
// reports, with a field path and a line, what yaml.v3's own strict mode
// reports without a path or not at all (duplicate keys inside sequences of
// mappings are caught by both).
func check(n *yaml.Node, t reflect.Type, path string, lines lineMap) error {
	if path != "" {
		lines[path] = n.Line
	}
	if n.Anchor != "" || n.Kind == yaml.AliasNode {
		return &Error{Field: path, Line: n.Line, Msg: "YAML anchors and aliases are not supported"}
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil // leaves the zero value
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return leaf(n, t, path)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return check(n, t.Elem(), path, lines)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return shapeError(n, path, "a mapping")
		}
		fields := structFields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return &Error{Field: path, Line: k.Line, Msg: "mapping keys must be plain strings"}
			}
			fp := join(path, k.Value)
			f, ok := fields[k.Value]
			if !ok {
				return &Error{Field: fp, Line: k.Line, Msg: "unknown field" + suggest(fields)}
			}
			if seen[k.Value] {
				return &Error{Field: fp, Line: k.Line, Msg: "field given twice"}
			}
			seen[k.Value] = true
			if err := check(val, f.Type, fp, lines); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return leaf(n, t, path)
		}
		if n.Kind != yaml.SequenceNode {
			return shapeError(n, path, "a list")
		}
		for i, e := range n.Content {
			if err := check(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), lines); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return shapeError(n, path, "a mapping")
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return &Error{Field: path, Line: k.Line, Msg: "mapping keys must be plain strings"}
			}
			fp := mapKeyPath(path, k.Value)
			if seen[k.Value] {
				return &Error{Field: fp, Line: k.Line, Msg: "key given twice"}
			}
			seen[k.Value] = true
			if err := check(val, t.Elem(), fp, lines); err != nil {
				return err
			}
		}
		return nil
	default:
		return leaf(n, t, path)
	}
}

// leaf decodes one scalar (or a custom type) on its own so that a wrong type
// is reported against its field rather than as a bare yaml.v3 message.
func leaf(n *yaml.Node, t reflect.Type, path string) error {
	custom := reflect.PointerTo(t).Implements(unmarshalerType)
	if !custom && n.Kind != yaml.ScalarNode {
		return shapeError(n, path, "a single value")
	}
	if !custom {
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			if n.ShortTag() != "!!int" {
				return &Error{Field: path, Line: n.Line, Msg: fmt.Sprintf("%q is not a whole number", n.Value)}
			}
		case reflect.Bool:
			if n.ShortTag() != "!!bool" {
				return &Error{Field: path, Line: n.Line, Msg: fmt.Sprintf("%q is not true or false", n.Value)}
			}
		}
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			return &Error{Field: join(path, ce.Field), Line: n.Line, Msg: ce.Msg}
		}
		msg := err.Error()
		if m := lineErr.FindStringSubmatch(strings.TrimPrefix(msg, "yaml: unmarshal errors:\n  ")); m != nil {
			msg = m[2]
		}
		return &Error{Field: path, Line: n.Line, Msg: msg}
	}
	return nil
}

func shapeError(n *yaml.Node, path, want string) error {
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
	return &Error{Field: path, Line: n.Line, Msg: fmt.Sprintf("want %s, got %s", want, got)}
}

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

func suggest(fields map[string]reflect.StructField) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	slices.Sort(names)
	return " (want one of: " + strings.Join(names, ", ") + ")"
}

func join(path, key string) string {
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

// mapKeyPath spells a map entry's path so that keys with dots or slashes
// (Kubernetes label keys) stay unambiguous: node.labels["kubernetes.io/os"].
func mapKeyPath(path, key string) string {
	if plainKey.MatchString(key) {
		return join(path, key)
	}
	return path + "[" + strconv.Quote(key) + "]"
}
