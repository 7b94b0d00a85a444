package config

import (
	"fmt"
	"strings"
)

// Error is a mistake in a NodeConfig (or another kiln/v1 document) that the
// person who wrote it can fix. Field is the path of the offending field in
// the document's own spelling, such as "cluster.controlPlane.peers[2].address";
// Line is the 1-based line in the source document, or 0 when the value did
// not come from a parsed document. Callers find it with errors.As.
type Error struct {
	Field string
	Line  int
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// errorList collects the user mistakes found in one pass so that a person
// fixing a document sees all of them at once, in document order.
type errorList []*Error

func (l *errorList) add(field, format string, args ...any) {
	*l = append(*l, &Error{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// err returns nil, the single *Error, or a joined error whose Unwrap() []error
// holds every *Error (errors.As finds the first).
func (l errorList) err() error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	}
	return joined(l)
}

type joined []*Error

func (j joined) Error() string {
	s := make([]string, len(j))
	for i, e := range j {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

func (j joined) Unwrap() []error {
	errs := make([]error, len(j))
	for i, e := range j {
		errs[i] = e
	}
	return errs
}

// Errors returns every *Error inside err (one, or several joined by Validate
// or Parse), in document order; nil if err holds none.
func Errors(err error) []*Error {
	switch e := err.(type) {
	case nil:
		return nil
	case *Error:
		return []*Error{e}
	case joined:
		return append([]*Error(nil), e...)
	case interface{ Unwrap() []error }:
		var out []*Error
		for _, w := range e.Unwrap() {
			out = append(out, Errors(w)...)
		}
		return out
	case interface{ Unwrap() error }:
		return Errors(e.Unwrap())
	}
	return nil
}
