package spec

import (
	"strconv"
	"strings"
)

// Error is a mistake in a profile: it names the file, the line when known,
// and the field. Callers use errors.As to tell it from I/O failures.
type Error struct {
	File  string
	Line  int
	Field string // e.g. "repos[0].baseurl"
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}
