package kilninit

import "strings"

// Cmdline is what kiln-init reads from the kernel command line.
type Cmdline struct {
	Root       string // root=UUID=..., root=PARTUUID=... or root=/dev/...
	RootFSType string // rootfstype=, default ext4
	RootFlags  string // rootflags=
	ReadWrite  bool   // rw (default ro, as systemd expects)
	Init       string // init=, default /sbin/init
	NoGrow     bool   // kiln.grow=0 disables growing the root partition
	Debug      bool   // kiln.debug: stay up on failure instead of powering off
	RootWait   int    // kiln.rootwait=SECONDS, default 90
}

// ParseCmdline reads the options kiln-init cares about; others are ignored.
func ParseCmdline(s string) Cmdline {
	c := Cmdline{RootFSType: "ext4", Init: "/sbin/init", RootWait: 90}
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "root":
			c.Root = v
		case "rootfstype":
			c.RootFSType = v
		case "rootflags":
			c.RootFlags = v
		case "rw":
			c.ReadWrite = true
		case "ro":
			c.ReadWrite = false
		case "init":
			c.Init = v
		case "kiln.grow":
			c.NoGrow = v == "0" || v == "no" || v == "false"
		case "kiln.debug":
			c.Debug = true
		case "kiln.rootwait":
			n := 0
			for _, ch := range v {
				if ch < '0' || ch > '9' {
					n = -1
					break
				}
				n = n*10 + int(ch-'0')
			}
			if n > 0 {
				c.RootWait = n
			}
		}
	}
	return c
}
