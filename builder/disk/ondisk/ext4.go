package ondisk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ext4 superblock fields read here (offsets within the superblock,
// which starts 1024 bytes into the filesystem).
const (
	sbOffset          = 1024
	sbBlocksCount     = 0x04 // s_blocks_count_lo
	sbLogBlockSize    = 0x18 // s_log_block_size
	sbMagic           = 0x38 // s_magic, 0xEF53
	sbFeatureIncompat = 0x60
	sbUUID            = 0x68  // s_uuid[16]
	sbBlocksCountHi   = 0x150 // s_blocks_count_hi (64bit feature)
	ext4Magic         = 0xEF53
	incompat64bit     = 0x80
)

// Ext4Info is what kiln-init (to find and grow the root) and kiln inspect
// need to know about an ext2/3/4 filesystem.
type Ext4Info struct {
	UUID      string // lower-case, dashed
	BlockSize int64
	Blocks    uint64
}

// ErrNotExt4 is ReadExt4 on something else.
var ErrNotExt4 = errors.New("not an ext2/3/4 filesystem")

// ReadExt4 reads the superblock of the filesystem at the start of r.
func ReadExt4(r io.ReaderAt) (Ext4Info, error) {
	sb := make([]byte, 1024)
	if _, err := r.ReadAt(sb, sbOffset); err != nil {
		return Ext4Info{}, fmt.Errorf("reading superblock: %w", err)
	}
	if binary.LittleEndian.Uint16(sb[sbMagic:]) != ext4Magic {
		return Ext4Info{}, ErrNotExt4
	}
	log := binary.LittleEndian.Uint32(sb[sbLogBlockSize:])
	if log > 6 {
		return Ext4Info{}, fmt.Errorf("superblock: block size 1024<<%d is not valid", log)
	}
	info := Ext4Info{UUID: FormatUUID(sb[sbUUID : sbUUID+16]), BlockSize: 1024 << log}
	info.Blocks = uint64(binary.LittleEndian.Uint32(sb[sbBlocksCount:]))
	if binary.LittleEndian.Uint32(sb[sbFeatureIncompat:])&incompat64bit != 0 {
		info.Blocks |= uint64(binary.LittleEndian.Uint32(sb[sbBlocksCountHi:])) << 32
	}
	return info, nil
}

// FormatUUID writes 16 bytes as a lower-case dashed UUID, in byte order.
func FormatUUID(b []byte) string {
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&15])
	}
	return string(out)
}
