package esp

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
)

// assignShortNames gives every node an 8.3 name. A name that is already a
// valid 8.3 name in one case per part (BOOTX64.EFI, grub.cfg) is stored as
// is, with the NT case bits Linux and Windows honour for lower case; any
// other name gets a long-name (VFAT) entry and a numbered alias (GRUBX6~1.EFI).
func assignShortNames(n *node) error {
	if !n.dir {
		return nil
	}
	taken := map[[11]byte]bool{}
	folded := map[string]string{}
	var needAlias []*node
	for _, c := range n.children {
		key := strings.ToUpper(c.name)
		if prev, ok := folded[key]; ok {
			return fmt.Errorf("esp files %q and %q differ only in case, which FAT cannot hold", childPath(n, prev), c.path)
		}
		folded[key] = c.name
		if short, bits, ok := plainShortName(c.name); ok {
			c.short, c.caseBits = short, bits
			taken[short] = true
			continue
		}
		needAlias = append(needAlias, c)
	}
	for _, c := range needAlias {
		c.lfn = true
		base, ext := aliasParts(c.name)
		found := false
		for i := 1; i < 1000000 && !found; i++ {
			tail := "~" + strconv.Itoa(i)
			b := base
			if len(b)+len(tail) > 8 {
				b = b[:8-len(tail)]
			}
			short := pack(b+tail, ext)
			if !taken[short] {
				c.short, found = short, true
				taken[short] = true
			}
		}
		if !found {
			return fmt.Errorf("esp directory %q: no free short name for %q", n.path, c.name)
		}
	}
	for _, c := range n.children {
		if err := assignShortNames(c); err != nil {
			return err
		}
	}
	return nil
}

func childPath(dir *node, name string) string {
	if dir.path == "." {
		return name
	}
	return dir.path + "/" + name
}

// plainShortName reports whether name can be stored as an 8.3 entry alone.
func plainShortName(name string) (short [11]byte, caseBits byte, ok bool) {
	if name == "." || name == ".." || strings.HasPrefix(name, ".") {
		return short, 0, false
	}
	base, ext, hasDot := strings.Cut(name, ".")
	if strings.Contains(ext, ".") || len(base) == 0 || len(base) > 8 || len(ext) > 3 || (hasDot && ext == "") {
		return short, 0, false
	}
	baseBits, ok1 := oneCase(base, 0x08)
	extBits, ok2 := oneCase(ext, 0x10)
	if !ok1 || !ok2 {
		return short, 0, false
	}
	return pack(strings.ToUpper(base), strings.ToUpper(ext)), baseBits | extBits, true
}

// oneCase checks s holds only short-name characters, with its letters all
// upper or all lower case; lower case yields bit.
func oneCase(s string, bit byte) (byte, bool) {
	lower, upper := false, false
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= 'A' && r <= 'Z':
			upper = true
		case !shortNameChar(r):
			return 0, false
		}
	}
	if lower && upper {
		return 0, false
	}
	if lower {
		return bit, true
	}
	return 0, true
}

func shortNameChar(r rune) bool {
	switch {
	case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("!#$%&'()-@^_`{}~", r)
}

// aliasParts makes the upper-cased base and extension of a long name's alias:
// characters outside the short-name set become '_', spaces and leading dots
// are dropped, and the extension is what follows the last dot.
func aliasParts(name string) (base, ext string) {
	trimmed := strings.TrimLeft(name, ".")
	if i := strings.LastIndex(trimmed, "."); i >= 0 {
		base, ext = trimmed[:i], trimmed[i+1:]
	} else {
		base = trimmed
	}
	clean := func(s string, max int) string {
		var b strings.Builder
		for _, r := range strings.ToUpper(s) {
			if b.Len() == max {
				break
			}
			switch {
			case r == ' ' || r == '.':
			case shortNameChar(r):
				b.WriteRune(r)
			default:
				b.WriteByte('_')
			}
		}
		return b.String()
	}
	base, ext = clean(base, 8), clean(ext, 3)
	if base == "" {
		base = "_"
	}
	return base, ext
}

func pack(base, ext string) [11]byte {
	var s [11]byte
	for i := range s {
		s[i] = ' '
	}
	copy(s[0:8], base)
	copy(s[8:11], ext)
	return s
}

func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

// lfnEntries returns the long-name entries that precede a short entry, last
// part first, as they appear on disk.
func lfnEntries(name string, short [11]byte) []byte {
	units := utf16.Encode([]rune(name))
	count := (len(units) + 12) / 13
	padded := make([]uint16, count*13)
	for i := range padded {
		switch {
		case i < len(units):
			padded[i] = units[i]
		case i == len(units):
			padded[i] = 0
		default:
			padded[i] = 0xFFFF
		}
	}
	var sum byte
	for _, c := range short {
		sum = (sum&1)<<7 + sum>>1 + c
	}
	out := make([]byte, 0, count*dirEntry)
	for seq := count; seq >= 1; seq-- {
		e := make([]byte, dirEntry)
		e[0] = byte(seq)
		if seq == count {
			e[0] |= 0x40
		}
		e[11] = attrLFN
		e[13] = sum
		chars := padded[(seq-1)*13 : seq*13]
		for i, u := range chars {
			var at int
			switch {
			case i < 5:
				at = 1 + i*2
			case i < 11:
				at = 14 + (i-5)*2
			default:
				at = 28 + (i-11)*2
			}
			binary.LittleEndian.PutUint16(e[at:], u)
		}
		out = append(out, e...)
	}
	return out
}
