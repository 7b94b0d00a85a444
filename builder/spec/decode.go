package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Decode parses one profile document strictly: an unknown key, a value of
// the wrong type or a second document is an *Error naming file, line and
// field. It does not follow extends, resolve paths or validate.
func Decode(file string, data []byte) (*Profile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: file, Msg: "empty profile"}
		}
		return nil, yamlError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Error{File: file, Line: extra.Line, Msg: "more than one YAML document; a profile is one document"}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{File: file, Line: doc.Line, Msg: "a profile is a YAML mapping (apiVersion, kind, name, ...)"}
	}
	root := doc.Content[0]
	if err := checkKnown(file, "", root, reflect.TypeOf(Profile{})); err != nil {
		return nil, err
	}
	p := &Profile{}
	if err := root.Decode(p); err != nil {
		return nil, yamlError(file, err)
	}
	p.source = file
	p.lines = map[string]int{}
	recordLines(p.lines, "", root)
	return p, nil
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError turns yaml.v3's messages into kiln's file:line: form.
func yamlError(file string, err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	m := strings.TrimPrefix(msgs[0], "yaml: ")
	e := &Error{File: file, Msg: m}
	if sm := yamlLine.FindStringSubmatch(m); sm != nil {
		e.Line, _ = strconv.Atoi(sm[1])
		e.Msg = sm[2]
	}
	// The inner "line N:" of our own UnmarshalYAML errors repeats the line.
	if sm := yamlLine.FindStringSubmatch(e.Msg); sm != nil {
		e.Msg = sm[2]
	}
	return e
}

// checkKnown walks a mapping against a struct type and reports the first
// key the struct does not have, with a suggestion when it is a near miss.
func checkKnown(file, path string, n *yaml.Node, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if err := checkScalar(file, path, n, t); err != nil {
		return err
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if _, custom := reflect.New(t).Interface().(yaml.Unmarshaler); custom {
				return nil
			}
			if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
				return nil
			}
			return &Error{File: file, Line: n.Line, Field: path, Msg: "want a mapping of keys"}
		}
		fields := yamlFields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				msg := fmt.Sprintf("unknown field %q", k.Value)
				if s := suggest(k.Value, fields); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				return &Error{File: file, Line: k.Line, Field: path, Msg: msg}
			}
			if seen[k.Value] {
				return &Error{File: file, Line: k.Line, Field: join(path, k.Value), Msg: "set twice"}
			}
			seen[k.Value] = true
			if err := checkKnown(file, join(path, k.Value), v, ft); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if _, custom := reflect.New(t).Interface().(yaml.Unmarshaler); custom {
			return nil
		}
		if n.Kind == yaml.SequenceNode {
			for i, c := range n.Content {
				if err := checkKnown(file, fmt.Sprintf("%s[%d]", path, i), c, t.Elem()); err != nil {
					return err
				}
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if err := checkKnown(file, join(path, n.Content[i].Value), n.Content[i+1], t.Elem()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkScalar holds booleans and numbers to YAML's own types: yaml.v3
// takes yes, on and "yes" for true into a bool for YAML 1.1's sake, and
// its error for "two" names no field. A quoted "true" or "2" is a string.
func checkScalar(file, path string, n *yaml.Node, t reflect.Type) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		return nil
	}
	if _, custom := reflect.New(t).Interface().(yaml.Unmarshaler); custom {
		return nil
	}
	switch t.Kind() {
	case reflect.Bool:
		if n.ShortTag() != "!!bool" {
			return &Error{File: file, Line: n.Line, Field: path, Msg: fmt.Sprintf("%q is not a boolean (want true or false)", n.Value)}
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.ShortTag() != "!!int" {
			return &Error{File: file, Line: n.Line, Field: path, Msg: fmt.Sprintf("%q is not a whole number", n.Value)}
		}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps a struct's YAML keys to their field types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
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
		m[name] = f.Type
	}
	return m
}

// suggest returns the known key closest to k when it is a plausible typo.
func suggest(k string, fields map[string]reflect.Type) string {
	keys := make([]string, 0, len(fields))
	for f := range fields {
		keys = append(keys, f)
	}
	sort.Strings(keys)
	best, bestD := "", 3
	for _, f := range keys {
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
