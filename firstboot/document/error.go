package document

import (
	"fmt"
	"strconv"
	"strings"
)

// Error is a mistake in a kiln/v1 document that the person who wrote it can
// fix. File is the document's file ("" when it did not come from one, such
// as metadata read from a hypervisor); Line is 1-based, 0 when unknown;
// Field is the path of the offending field in the document's own spelling,
// such as "cluster.controlPlane.peers[2].address". Callers find it with
// errors.As.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

// Error reads file:line: field: message, or line N: field: message for a
// document without a file.
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "":
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// List collects the mistakes found in one pass, so that a person fixing a
// document sees all of them at once, in document order.
type List []*Error

// Add appends a mistake in field.
func (l *List) Add(field, format string, args ...any) {
	*l = append(*l, &Error{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// Locate sets every mistake's file, and its line from lines, where not set.
func (l List) Locate(file string, lines Lines) List {
	for _, e := range l {
		if e.File == "" {
			e.File = file
		}
		if e.Line == 0 {
			e.Line = lines.Of(e.Field)
		}
	}
	return l
}

// Err returns nil, the single *Error, or the List itself, whose Unwrap()
// []error holds every *Error (errors.As finds the first).
func (l List) Err() error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	}
	return l
}

// Error is one mistake a line.
func (l List) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

func (l List) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// Errors returns every *Error inside err (one, a List, or errors joined or
// wrapped around them), in order; nil if err holds none.
func Errors(err error) []*Error {
	switch e := err.(type) {
	case nil:
		return nil
	case *Error:
		return []*Error{e}
	case List:
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
