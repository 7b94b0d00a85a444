package spec

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Where a validation error points. Validate checks the merged profile, whose
// list positions are not the ones anybody wrote (packages[40] of a child
// and its three ancestors); these helpers take a field of the merged
// profile back to the file of the chain that set it, its position there
// and its line.

// lineOf is the line of field, or of the nearest enclosing field that has
// one; 0 when none.
func (p *Profile) lineOf(field string) int { return p.lines.Of(field) }

// locateErrors points each *Error of the merged profile's Validate at the
// file of chain (child first) that set the field, with the field as
// written there and its line. A field no file set (a default) stays on the
// child, without a line.
func locateErrors(err error, merged *Profile, chain []*Profile) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		var se *Error
		if !errors.As(e, &se) || se.Field == "" {
			out = append(out, e)
			continue
		}
		le := *se
		for _, p := range chain {
			if f, ok := translate(reflect.ValueOf(merged).Elem(), reflect.ValueOf(p).Elem(), se.Field); ok {
				le.File, le.Field, le.Line = p.source, f, p.lineOf(f)
				break
			}
		}
		out = append(out, &le)
	}
	return errors.Join(out...)
}

// translate follows field through the merged profile m and one file's
// profile p together. At each list index it finds in p's list the element
// equal to m's (the merge copies elements whole, so the file that set an
// element holds an equal one); at the end, p's value must equal m's and be
// set. It returns field as spelt in p.
func translate(m, p reflect.Value, field string) (string, bool) {
	var out strings.Builder
	rest := field
	entry := false // at a map entry: set even when its value is empty
	for {
		m, p = deref(m), deref(p)
		if !m.IsValid() || !p.IsValid() {
			return "", false
		}
		if rest == "" {
			if !entry && p.IsZero() || !reflect.DeepEqual(m.Interface(), p.Interface()) {
				return "", false
			}
			return out.String(), true
		}
		switch {
		case strings.HasPrefix(rest, `["`) && m.Kind() == reflect.Map:
			// A map key that is not a plain name: sysctl["net.ipv4.ip_forward"].
			q, err := strconv.QuotedPrefix(rest[1:])
			key, uerr := strconv.Unquote(q)
			if err != nil || uerr != nil || !strings.HasPrefix(rest[1+len(q):], "]") {
				return "", false
			}
			if p.Kind() != reflect.Map {
				return "", false
			}
			k := reflect.ValueOf(key).Convert(m.Type().Key())
			out.WriteString("[" + q + "]")
			m, p, rest, entry = m.MapIndex(k), p.MapIndex(k), rest[1+len(q)+1:], true
		case rest[0] == '[':
			end := strings.IndexByte(rest, ']')
			i, err := strconv.Atoi(rest[1:max(end, 1)])
			if end < 0 || err != nil || m.Kind() != reflect.Slice || i >= m.Len() {
				return "", false
			}
			want := m.Index(i).Interface()
			j := -1
			if p.Kind() == reflect.Slice && i < p.Len() && reflect.DeepEqual(p.Index(i).Interface(), want) {
				j = i // a duplicate in one file keeps its own position
			} else if p.Kind() == reflect.Slice {
				for k := 0; k < p.Len(); k++ {
					if reflect.DeepEqual(p.Index(k).Interface(), want) {
						j = k
						break
					}
				}
			}
			if j < 0 {
				return "", false
			}
			fmt.Fprintf(&out, "[%d]", j)
			m, p, rest = m.Index(i), p.Index(j), rest[end+1:]
		case rest[0] == '.':
			rest = rest[1:]
		case m.Kind() == reflect.Map:
			// A map's key is the rest of the path: sysctl keys hold dots.
			k := reflect.ValueOf(rest).Convert(m.Type().Key())
			if out.Len() > 0 {
				out.WriteByte('.')
			}
			out.WriteString(rest)
			if p.Kind() != reflect.Map {
				return "", false
			}
			m, p, rest, entry = m.MapIndex(k), p.MapIndex(k), "", true
		case m.Kind() == reflect.Struct:
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			name := rest[:end]
			idx, ok := yamlFieldIndex(m.Type(), name)
			if !ok {
				return "", false
			}
			if out.Len() > 0 {
				out.WriteByte('.')
			}
			out.WriteString(name)
			m, p, rest = m.Field(idx), p.Field(idx), rest[end:]
		default:
			return "", false
		}
	}
}

func deref(v reflect.Value) reflect.Value {
	for v.IsValid() && (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// yamlFieldIndex finds a struct field by its YAML key.
func yamlFieldIndex(t reflect.Type, key string) (int, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if name == key {
			return i, true
		}
	}
	return 0, false
}
