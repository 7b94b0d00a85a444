package version

import "testing"

// Cases from rpm's own test suite (tests/rpmvercmp.at).
func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0}, {"1.0", "2.0", -1}, {"2.0", "1.0", 1},
		{"2.0.1", "2.0.1", 0}, {"2.0", "2.0.1", -1}, {"2.0.1a", "2.0.1", 1},
		{"5.5p1", "5.5p2", -1}, {"5.5p10", "5.5p1", 1}, {"10xyz", "10.1xyz", -1},
		{"xyz10", "xyz10.1", -1}, {"xyz.4", "8", -1}, {"8", "xyz.4", 1},
		{"1.0aa", "1.0a", 1}, {"10.0001", "10.1", 0}, {"10.0001", "10.0039", -1},
		{"4.999.9", "5.0", -1}, {"20101121", "20101122", -1}, {"2_0", "2_0", 0},
		{"2.0", "2_0", 0}, {"a", "a", 0}, {"a+", "a_", 0}, {"+", "_", 0},
		{"1.0~rc1", "1.0", -1}, {"1.0~rc1", "1.0~rc2", -1}, {"1.0~rc1~git123", "1.0~rc1", -1},
		{"1.0^", "1.0", 1}, {"1.0^git1", "1.0^git2", -1}, {"1.0^git1", "1.01", -1},
		{"1.0^20160101", "1.0.1", -1}, {"1.0^git1~pre", "1.0^git1", -1},
		{"1.0~rc1^git1", "1.0~rc1", 1}, {"1.0^git1", "1.0^git1~pre", 1},
		{"1.1.α", "1.1.α", 0}, {"1.1.α", "1.1", 0},
	} {
		if got := Compare(tc.a, tc.b); got != tc.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want EVR
	}{
		{"1.34.2", EVR{0, "1.34.2", ""}},
		{"1.34.2-150500.1.1", EVR{0, "1.34.2", "150500.1.1"}},
		{"3:27.5.1-1.el9", EVR{3, "27.5.1", "1.el9"}},
		{"0:1.0-1", EVR{0, "1.0", "1"}},
	} {
		got, err := Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v, want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "x:1.0", "1.0-", ":1"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded, want error", bad)
		}
	}
}
