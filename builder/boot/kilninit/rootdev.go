package kilninit

import (
	"fmt"
	"github.com/kiln-build/kiln/builder/disk/ondisk"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// BlockDev is a block device as sysfs shows it.
type BlockDev struct {
	Name      string // vda3
	Parent    string // vda, for a partition
	Partition int    // 3, for a partition; 0 for a whole disk
	Start     int64  // partition start in bytes
	Size      int64  // bytes
}

// ListBlockDevs reads sysfs under root (normally "/") and returns the
// block devices, sorted by name.
func ListBlockDevs(root string) ([]BlockDev, error) {
	dir := filepath.Join(root, "sys/class/block")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var devs []BlockDev
	for _, e := range ents {
		d := BlockDev{Name: e.Name()}
		base := filepath.Join(dir, e.Name())
		d.Size = readInt(filepath.Join(base, "size")) * 512 // sysfs counts 512-byte sectors
		if n := readInt(filepath.Join(base, "partition")); n > 0 {
			d.Partition = int(n)
			d.Start = readInt(filepath.Join(base, "start")) * 512
			if target, err := os.Readlink(base); err == nil {
				d.Parent = filepath.Base(filepath.Dir(target))
			}
		}
		devs = append(devs, d)
	}
	sort.Slice(devs, func(i, j int) bool { return devs[i].Name < devs[j].Name })
	return devs, nil
}

func readInt(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// FindRoot returns the device the root= argument names: UUID=, or a
// /dev path. devRoot is where device nodes live (normally "/").
func FindRoot(root, spec string) (BlockDev, ondisk.Ext4Info, error) {
	devs, err := ListBlockDevs(root)
	if err != nil {
		return BlockDev{}, ondisk.Ext4Info{}, err
	}
	switch {
	case strings.HasPrefix(spec, "UUID="):
		want := strings.ToLower(strings.TrimPrefix(spec, "UUID="))
		for _, d := range devs {
			f, err := os.Open(filepath.Join(root, "dev", d.Name))
			if err != nil {
				continue
			}
			info, err := ondisk.ReadExt4(f)
			f.Close()
			if err == nil && info.UUID == want {
				return d, info, nil
			}
		}
		return BlockDev{}, ondisk.Ext4Info{}, fmt.Errorf("no block device has filesystem UUID %s", want)
	case strings.HasPrefix(spec, "/dev/"):
		name := strings.TrimPrefix(spec, "/dev/")
		for _, d := range devs {
			if d.Name == name {
				f, err := os.Open(filepath.Join(root, "dev", d.Name))
				if err != nil {
					return BlockDev{}, ondisk.Ext4Info{}, err
				}
				info, err := ondisk.ReadExt4(f)
				f.Close()
				return d, info, err
			}
		}
		return BlockDev{}, ondisk.Ext4Info{}, fmt.Errorf("%s not found", spec)
	}
	return BlockDev{}, ondisk.Ext4Info{}, fmt.Errorf("root=%s is not supported (want root=UUID=... or root=/dev/...)", spec)
}
