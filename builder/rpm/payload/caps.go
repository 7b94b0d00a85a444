package payload

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// capNames are the Linux capabilities by number (linux/capability.h).
var capNames = []string{
	"cap_chown", "cap_dac_override", "cap_dac_read_search", "cap_fowner", "cap_fsetid",
	"cap_kill", "cap_setgid", "cap_setuid", "cap_setpcap", "cap_linux_immutable",
	"cap_net_bind_service", "cap_net_broadcast", "cap_net_admin", "cap_net_raw", "cap_ipc_lock",
	"cap_ipc_owner", "cap_sys_module", "cap_sys_rawio", "cap_sys_chroot", "cap_sys_ptrace",
	"cap_sys_pacct", "cap_sys_admin", "cap_sys_boot", "cap_sys_nice", "cap_sys_resource",
	"cap_sys_time", "cap_sys_tty_config", "cap_mknod", "cap_lease", "cap_audit_write",
	"cap_audit_control", "cap_setfcap", "cap_mac_override", "cap_mac_admin", "cap_syslog",
	"cap_wake_alarm", "cap_block_suspend", "cap_audit_read", "cap_perfmon", "cap_bpf",
	"cap_checkpoint_restore",
}

// CapXattr turns a capability set in libcap's text form ("cap_net_raw=ep",
// "cap_net_admin,cap_net_raw+ep", "= cap_setuid+ei") into the value of the
// security.capability xattr (struct vfs_cap_data, revision 2), as rpm
// writes it with cap_set_file.
func CapXattr(text string) ([]byte, error) {
	var eff, perm, inh uint64
	for _, clause := range strings.Fields(text) {
		i := strings.IndexAny(clause, "=+-")
		if i < 0 {
			return nil, fmt.Errorf("capabilities %q: clause %q has no operator", text, clause)
		}
		var set uint64
		if names := clause[:i]; names != "" {
			for _, n := range strings.Split(names, ",") {
				n = strings.ToLower(n)
				if n == "all" {
					set = 1<<len(capNames) - 1
					continue
				}
				found := false
				for bit, cn := range capNames {
					if cn == n {
						set |= 1 << bit
						found = true
					}
				}
				if !found {
					return nil, fmt.Errorf("capabilities %q: unknown capability %q", text, n)
				}
			}
		} else if clause[i] == '=' {
			set = 1<<len(capNames) - 1 // "=ep" alone means all
			if i == len(clause)-1 {
				set = 0 // "=" alone clears
			}
		}
		rest := clause[i:]
		for len(rest) > 0 {
			op := rest[0]
			j := 1
			for j < len(rest) && !strings.ContainsRune("=+-", rune(rest[j])) {
				j++
			}
			flags := rest[1:j]
			rest = rest[j:]
			if op == '=' {
				eff, perm, inh = eff&^set, perm&^set, inh&^set
			}
			for _, f := range flags {
				var target *uint64
				switch f {
				case 'e':
					target = &eff
				case 'p':
					target = &perm
				case 'i':
					target = &inh
				default:
					return nil, fmt.Errorf("capabilities %q: unknown flag %q", text, f)
				}
				if op == '-' {
					*target &^= set
				} else {
					*target |= set
				}
			}
		}
	}
	if perm == 0 && inh == 0 {
		return nil, nil
	}
	const revision2, effective = 0x02000000, 0x000001
	magic := uint32(revision2)
	if eff != 0 {
		// The kernel has one effective bit: all permitted/inheritable
		// capabilities become effective, as libcap encodes it.
		magic |= effective
	}
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], magic)
	binary.LittleEndian.PutUint32(b[4:], uint32(perm))
	binary.LittleEndian.PutUint32(b[8:], uint32(inh))
	binary.LittleEndian.PutUint32(b[12:], uint32(perm>>32))
	binary.LittleEndian.PutUint32(b[16:], uint32(inh>>32))
	return b, nil
}
