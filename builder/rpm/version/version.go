// Package version compares RPM versions the way rpm does (rpmvercmp) and
// parses the [EPOCH:]VERSION[-RELEASE] strings found in package specs,
// repodata and dependencies.
//
//	version.Compare("1.0~rc1", "1.0")            // -1: a tilde sorts before the release
//	version.MustParse("3:27.5.1-1.el9").String() // "3:27.5.1-1.el9"
package version

import (
	"fmt"
	"strconv"
	"strings"
)

// EVR is an epoch, version and release. A zero Epoch and an absent epoch
// compare the same, as in rpm >= 4.x. Release may be empty in dependencies
// ("kubelet >= 1.30"), where it means "any release".
type EVR struct {
	Epoch   uint32
	Version string
	Release string
}

// String formats the EVR as rpm prints it: the epoch only when non-zero.
func (e EVR) String() string {
	var b strings.Builder
	if e.Epoch != 0 {
		b.WriteString(strconv.FormatUint(uint64(e.Epoch), 10))
		b.WriteByte(':')
	}
	b.WriteString(e.Version)
	if e.Release != "" {
		b.WriteByte('-')
		b.WriteString(e.Release)
	}
	return b.String()
}

// Parse reads [EPOCH:]VERSION[-RELEASE]. The release is whatever follows
// the last '-', as rpm splits it.
func Parse(s string) (EVR, error) {
	var e EVR
	if s == "" {
		return e, fmt.Errorf("empty version")
	}
	if i := strings.IndexByte(s, ':'); i >= 0 {
		n, err := strconv.ParseUint(s[:i], 10, 32)
		if err != nil {
			return e, fmt.Errorf("version %q: epoch %q is not a number", s, s[:i])
		}
		e.Epoch = uint32(n)
		s = s[i+1:]
	}
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		e.Version, e.Release = s[:i], s[i+1:]
		if e.Release == "" {
			return e, fmt.Errorf("version %q: empty release after '-'", s)
		}
	} else {
		e.Version = s
	}
	if e.Version == "" {
		return e, fmt.Errorf("version %q: empty version", s)
	}
	return e, nil
}

// MustParse is Parse for constants in code and tests; it panics on error.
func MustParse(s string) EVR {
	e, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return e
}

// CompareEVR orders two EVRs: epoch, then version, then release, each with
// rpmvercmp. An empty release compares equal to any release, which is how
// rpm matches a dependency that names no release.
func CompareEVR(a, b EVR) int {
	if a.Epoch != b.Epoch {
		if a.Epoch < b.Epoch {
			return -1
		}
		return 1
	}
	if c := Compare(a.Version, b.Version); c != 0 {
		return c
	}
	if a.Release == "" || b.Release == "" {
		return 0
	}
	return Compare(a.Release, b.Release)
}

// Compare is rpmvercmp: it returns -1, 0 or 1 as a is older than, equal to
// or newer than b. Strings are split into runs of digits and of ASCII
// letters; other characters only separate. Numbers beat letters, '~' sorts
// before anything (even the end of the string) and '^' sorts after the end
// of the string but before anything else.
func Compare(a, b string) int {
	if a == b {
		return 0
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for i < len(a) && !isAlnum(a[i]) && a[i] != '~' && a[i] != '^' {
			i++
		}
		for j < len(b) && !isAlnum(b[j]) && b[j] != '~' && b[j] != '^' {
			j++
		}
		ca, cb := at(a, i), at(b, j)
		if ca == '~' || cb == '~' {
			if ca != '~' {
				return 1
			}
			if cb != '~' {
				return -1
			}
			i, j = i+1, j+1
			continue
		}
		if ca == '^' || cb == '^' {
			if ca == 0 {
				return -1
			}
			if cb == 0 {
				return 1
			}
			if ca != '^' {
				return 1
			}
			if cb != '^' {
				return -1
			}
			i, j = i+1, j+1
			continue
		}
		if ca == 0 || cb == 0 {
			break
		}
		ei, ej := i, j
		isNum := isDigit(ca)
		if isNum {
			for ei < len(a) && isDigit(a[ei]) {
				ei++
			}
			for ej < len(b) && isDigit(b[ej]) {
				ej++
			}
		} else {
			for ei < len(a) && isAlpha(a[ei]) {
				ei++
			}
			for ej < len(b) && isAlpha(b[ej]) {
				ej++
			}
		}
		if ej == j {
			// Segments of different kinds: numbers are newer than letters.
			if isNum {
				return 1
			}
			return -1
		}
		sa, sb := a[i:ei], b[j:ej]
		if isNum {
			sa = strings.TrimLeft(sa, "0")
			sb = strings.TrimLeft(sb, "0")
			if len(sa) != len(sb) {
				if len(sa) > len(sb) {
					return 1
				}
				return -1
			}
		}
		if c := strings.Compare(sa, sb); c != 0 {
			return c
		}
		i, j = ei, ej
	}
	ra, rb := i >= len(a), j >= len(b)
	switch {
	case ra && rb:
		return 0
	case ra:
		return -1
	default:
		return 1
	}
}

func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }
