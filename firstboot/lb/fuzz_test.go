package lb

import (
	"bytes"
	"testing"
)

// FuzzRender feeds arbitrary node-supplied strings to Render: it must never panic, and
// whatever it accepts must not change the shape of any file (a value with a line break or
// a brace could otherwise add keepalived or haproxy directives).
func FuzzRender(f *testing.F) {
	f.Add("10.0.0.100", "eth0", "cp-1", "10.0.0.11", "k1lnvrrp", "docker.io/library/haproxy:2.8.5-alpine")
	f.Add("10.0.0.100", "eth0\n}", "cp-1", "10.0.0.11", "a b", "x")
	f.Add("1.2.3.4", "ens192", "a.b", "5.6.7.8", "12345678", "reg:5000/a/b@sha256:0123456789012345678901234567890123456789012345678901234567890123")
	lines := func(files []File) []int {
		var n []int
		for _, f := range files {
			n = append(n, bytes.Count(f.Data, []byte("\n")))
		}
		return n
	}
	base, err := Render(haParams("cp-1"))
	if err != nil {
		f.Fatal(err)
	}
	want := lines(base)
	f.Fuzz(func(t *testing.T, vip, iface, name, addr, pass, image string) {
		p := Params{
			Mode:      ModeKeepalivedHAProxy,
			VIP:       vip,
			Interface: iface,
			Peers:     []Peer{{Name: name, Address: addr}, {Name: "cp-2", Address: "10.0.0.12"}, {Name: "cp-3", Address: "10.0.0.13"}},
			Self:      name,
			AuthPass:  pass,
			Images:    Images{HAProxy: image, Keepalived: image},
		}
		files, err := Render(p)
		if err != nil {
			return
		}
		if got := lines(files); len(got) != len(want) {
			t.Fatalf("%d files, want %d", len(got), len(want))
		} else {
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%s has %d lines, want %d:\n%s", files[i].Path, got[i], want[i], files[i].Data)
				}
			}
		}
	})
}
