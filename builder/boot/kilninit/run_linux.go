package kilninit

import (
	"errors"
	"fmt"
	"github.com/kiln-build/kiln/builder/disk/ondisk"
	"github.com/kiln-build/kiln/builder/treepath"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ext4IocResizeFS is EXT4_IOC_RESIZE_FS, _IOW('f', 16, __u64): grow a
// mounted ext4 filesystem to the given block count (what resize2fs does
// online).
const ext4IocResizeFS = 0x40086610

// Logger is where kiln-init writes its progress: the console and kmsg.
type Logger interface {
	Printf(format string, args ...any)
}

// Run is kiln-init's main: it never returns on success (it execs the real
// init). On failure it returns the error; the caller powers off.
func Run(log Logger) error {
	for _, m := range []struct{ src, dst, fstype string }{
		{"devtmpfs", "/dev", "devtmpfs"},
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"tmpfs", "/run", "tmpfs"},
	} {
		os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.fstype, unix.MS_NOSUID, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mounting %s: %w", m.dst, err)
		}
	}
	raw, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return err
	}
	args := ParseCmdline(string(raw))
	log.Printf("kiln-init: root=%s rootfstype=%s", args.Root, args.RootFSType)

	mods, err := ReadModuleList("/")
	if err != nil {
		return fmt.Errorf("reading module list: %w", err)
	}
	loaded := 0
	for _, m := range mods {
		img, err := ModuleImage("/" + m)
		if err == nil {
			err = unix.InitModule(img, "")
		}
		if err != nil && !errors.Is(err, unix.EEXIST) {
			log.Printf("kiln-init: module %s: %v", filepath.Base(m), err)
			continue
		}
		loaded++
	}
	log.Printf("kiln-init: loaded %d of %d modules", loaded, len(mods))

	dev, info, err := waitRoot(args, log)
	if err != nil {
		return err
	}
	log.Printf("kiln-init: found root UUID=%s on /dev/%s", info.UUID, dev.Name)

	grownBlocks := uint64(0)
	if !args.NoGrow && dev.Partition > 0 && dev.Parent != "" {
		grownBlocks, err = growPartition(dev, info, log)
		if err != nil {
			// A failed grow must not stop the boot: the image still works
			// at its built size.
			log.Printf("kiln-init: not growing root: %v", err)
		}
	}

	flags := uintptr(0)
	if !args.ReadWrite && grownBlocks == 0 {
		flags |= unix.MS_RDONLY
	}
	os.MkdirAll("/sysroot", 0o755)
	if err := unix.Mount("/dev/"+dev.Name, "/sysroot", args.RootFSType, flags, args.RootFlags); err != nil {
		return fmt.Errorf("mounting root /dev/%s: %w", dev.Name, err)
	}
	if grownBlocks > 0 {
		if err := resizeFS("/sysroot", grownBlocks); err != nil {
			log.Printf("kiln-init: resizing root filesystem: %v", err)
		} else {
			log.Printf("kiln-init: root filesystem resized to %d blocks of %d bytes", grownBlocks, info.BlockSize)
		}
		if !args.ReadWrite {
			if err := unix.Mount("", "/sysroot", "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				log.Printf("kiln-init: remounting root read-only: %v", err)
			}
		}
	}
	log.Printf("kiln-init: mounted root UUID=%s at /sysroot, switching to %s", info.UUID, args.Init)
	return switchRoot("/sysroot", args.Init)
}

func waitRoot(args Cmdline, log Logger) (BlockDev, ondisk.Ext4Info, error) {
	deadline := time.Now().Add(time.Duration(args.RootWait) * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		dev, info, err := FindRoot("/", args.Root)
		if err == nil {
			return dev, info, nil
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	return BlockDev{}, ondisk.Ext4Info{}, fmt.Errorf("waiting %ds for root: %w", args.RootWait, lastErr)
}

// growPartition grows the root partition to the end of its disk and tells
// the kernel; it returns the filesystem's new block count, or 0 when
// nothing grew.
func growPartition(dev BlockDev, info ondisk.Ext4Info, log Logger) (uint64, error) {
	disk, err := os.OpenFile("/dev/"+dev.Parent, os.O_RDWR|unix.O_SYNC, 0)
	if err != nil {
		return 0, err
	}
	defer disk.Close()
	size, err := disk.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	g, err := GrowLastPartition(disk, size)
	if err != nil {
		return 0, err
	}
	if g.Partition != dev.Partition {
		return 0, fmt.Errorf("the last partition is %d, not root (%d)", g.Partition, dev.Partition)
	}
	newSize := g.Size()
	if !g.Grew() && newSize <= dev.Size {
		return 0, nil
	}
	part := unix.BlkpgPartition{Start: int64(g.StartLBA) * g.SectorSize, Length: newSize, Pno: int32(dev.Partition)}
	arg := unix.BlkpgIoctlArg{Op: unix.BLKPG_RESIZE_PARTITION, Datalen: int32(unsafe.Sizeof(part)), Data: (*byte)(unsafe.Pointer(&part))}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, disk.Fd(), unix.BLKPG, uintptr(unsafe.Pointer(&arg))); errno != 0 {
		return 0, fmt.Errorf("telling the kernel about the new partition size: %w", errno)
	}
	log.Printf("kiln-init: grew root partition %d of /dev/%s from %d to %d bytes", dev.Partition, dev.Parent, dev.Size, newSize)
	blocks := uint64(newSize / info.BlockSize)
	if blocks <= info.Blocks {
		return 0, nil
	}
	return blocks, nil
}

func resizeFS(mountpoint string, blocks uint64) error {
	f, err := os.Open(mountpoint)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), ext4IocResizeFS, uintptr(unsafe.Pointer(&blocks))); errno != 0 {
		return errno
	}
	return nil
}

// switchRoot moves the API filesystems under newRoot, frees the
// initramfs, makes newRoot the root and execs init, as switch_root does.
func switchRoot(newRoot, init string) error {
	for _, m := range []string{"/dev", "/proc", "/sys", "/run"} {
		os.MkdirAll(newRoot+m, 0o755)
		if err := unix.Mount(m, newRoot+m, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("moving %s: %w", m, err)
		}
	}
	// init is usually a symlink (/sbin/init -> ../lib/systemd/systemd, or
	// an absolute target): resolve it as the new root will see it.
	hostInit, err := treepath.Confine(newRoot, init)
	if err == nil {
		_, err = os.Stat(hostInit)
	}
	if err != nil {
		return fmt.Errorf("init %s not found on root: %w", init, err)
	}
	freeInitramfs(newRoot)
	if err := unix.Chdir(newRoot); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("moving root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	return unix.Exec(init, []string{init}, os.Environ())
}

// freeInitramfs deletes the initramfs's files (they live in RAM), staying
// on the initramfs device so nothing under newRoot is touched.
func freeInitramfs(newRoot string) {
	var rootStat unix.Stat_t
	if unix.Stat("/", &rootStat) != nil {
		return
	}
	ents, _ := os.ReadDir("/")
	for _, e := range ents {
		p := "/" + e.Name()
		if strings.HasPrefix(newRoot, p) {
			continue
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil || st.Dev != rootStat.Dev {
			continue
		}
		os.RemoveAll(p)
	}
}
