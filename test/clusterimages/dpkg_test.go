package clusterimages

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

const status = `Package: libc6
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Version: 2.36-9+deb12u10
Depends: libgcc-s1
Description: GNU C Library
 continued description line

Package: libgcc-s1
Status: install ok installed
Architecture: amd64
Version: 12.2.0-14
Depends: libc6 (>= 2.35)

Package: mawk
Status: install ok installed
Architecture: amd64
Version: 1.3.4.20200120-3.1
Provides: awk
Depends: libc6 (>= 2.34)

Package: tool
Status: install ok installed
Architecture: amd64
Version: 1.0
Pre-Depends: dpkg (>= 1.17)
Depends: gawk | awk, libc6:any (>= 2.34),
 debconf (>= 0.5) | debconf-2.0

Package: broken
Status: install ok installed
Architecture: amd64
Version: 1.0
Depends: gone (>= 1) | also-gone

Package: removed
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0
`

func TestClosure(t *testing.T) {
	st, err := ParseStatus(strings.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	skip := map[string]bool{"dpkg": true, "debconf": true}
	for _, tc := range []struct {
		names []string
		want  string // package names, or the error's text
	}{
		{[]string{"libc6"}, "libc6 libgcc-s1"},
		// awk is virtual: mawk provides it; the folded Depends line counts;
		// skipped packages and the alternatives beside them are dropped.
		{[]string{"tool"}, "libc6 libgcc-s1 mawk tool"},
		{[]string{"nothing | mawk"}, "libc6 libgcc-s1 mawk"},
		{[]string{"removed"}, "removed: not installed"},
		{[]string{"broken"}, "gone | also-gone (a dependency of broken): not installed"},
	} {
		pkgs, err := st.Closure(tc.names, skip)
		var got string
		if err != nil {
			got = err.Error()
			if !errors.Is(err, ErrNotInstalled) {
				t.Errorf("Closure(%q) = %v, not ErrNotInstalled", tc.names, err)
			}
		} else {
			var names []string
			for _, p := range pkgs {
				names = append(names, p.Name)
			}
			got = strings.Join(names, " ")
		}
		if got != tc.want {
			t.Errorf("Closure(%q) = %q, want %q", tc.names, got, tc.want)
		}
	}
	if p := st.Package("tool"); p == nil || !slices.Equal(p.Depends[0], []string{"dpkg"}) || len(p.Depends) != 4 {
		t.Errorf("tool's dependencies = %q, want Pre-Depends first then 3 Depends", p.Depends)
	}
}

func TestParseStatusRefusesTwoArchitectures(t *testing.T) {
	two := "Package: a\nStatus: install ok installed\nArchitecture: amd64\n\nPackage: a\nStatus: install ok installed\nArchitecture: i386\n"
	if _, err := ParseStatus(strings.NewReader(two)); err == nil || !strings.Contains(err.Error(), "installed twice") {
		t.Errorf("ParseStatus(two architectures) = %v", err)
	}
}
