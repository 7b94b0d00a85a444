package qemu

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Firmware is what the virtual machine boots with.
type Firmware string

// Firmware types.
const (
	BIOS Firmware = "bios" // SeaBIOS, QEMU's default
	UEFI Firmware = "uefi" // OVMF
)

// Accel is QEMU's accelerator.
type Accel string

// Accelerators. AccelAuto takes KVM when /dev/kvm can be opened.
const (
	AccelAuto Accel = ""
	AccelKVM  Accel = "kvm"
	AccelTCG  Accel = "tcg"
)

// OVMF is a UEFI firmware build: read-only code and a variable store
// template, copied per run.
type OVMF struct {
	Code, Vars string
}

// DebianOVMF is where Debian's and Ubuntu's ovmf package install the 4 MiB
// build.
func DebianOVMF() OVMF {
	return OVMF{Code: "/usr/share/OVMF/OVMF_CODE_4M.fd", Vars: "/usr/share/OVMF/OVMF_VARS_4M.fd"}
}

// MetadataName is the fw_cfg item kiln-firstboot reads.
const MetadataName = "opt/kiln/metadata"

// Options says what to boot and how.
type Options struct {
	// Image is a raw, qcow2 or VMDK disk, or an OVA holding one. It is
	// only read.
	Image    string
	Firmware Firmware // BIOS when empty
	// MemoryMiB and CPUs size the machine: 1024 MiB and 2 CPUs when zero.
	MemoryMiB int
	CPUs      int
	// DiskSize grows the disk the guest sees to this many bytes (the
	// image itself is untouched); zero keeps the image's size. It may not
	// shrink the disk.
	DiskSize int64
	// Metadata is a file handed to the guest as fw_cfg opt/kiln/metadata,
	// or, with NoCloud, as kiln.yaml on a `cidata` ISO 9660 volume.
	Metadata string
	NoCloud  bool
	Accel    Accel
	// Serial receives the serial console as QEMU writes it; nil discards.
	Serial io.Writer
	// Until stops the machine when a console line matches (escape
	// sequences and carriage returns removed). Nil runs until QEMU exits or
	// ctx is done.
	Until *regexp.Regexp
	// WorkDir holds the overlay, firmware variables and ISO; a temporary
	// directory, removed afterwards, when empty.
	WorkDir string
	// QEMU and QEMUImg are the programs; qemu-system-x86_64 and qemu-img
	// from PATH when empty.
	QEMU, QEMUImg string
	// OVMF is the UEFI firmware; DebianOVMF when zero.
	OVMF OVMF
	// Forwards connect TCP addresses on the guest's network to the host
	// (QEMU's guestfwd), e.g. a stand-in API server for a worker's VIP.
	Forwards []Forward
	// Tap, when set, puts the NIC on this existing tap device (for example
	// one of several on a bridge inside a network namespace, so guests
	// share an L2 network) instead of QEMU's user network; Forwards then
	// do not apply. MAC is the NIC's address; QEMU picks one when empty,
	// the same for every guest, so guests on one bridge need their own.
	Tap string
	MAC string
	// ExtraArgs are appended to QEMU's command line.
	ExtraArgs []string
}

// Forward makes connections the guest opens to Guest (IP:PORT inside
// 10.0.2.0/24, QEMU's user network) reach Host (IP:PORT on the host).
type Forward struct {
	Guest, Host string
}

// Result is what happened.
type Result struct {
	// Matched is the console line that matched Until; "" when none did.
	Matched string
	// Log is the serial console, at most MaxLog bytes (the latest).
	Log      []byte
	Accel    Accel
	Argv     []string
	Duration time.Duration
}

// Lines returns the console log as lines, without carriage returns or
// terminal escape sequences.
func (r Result) Lines() []string {
	var out []string
	for _, l := range strings.Split(string(r.Log), "\n") {
		out = append(out, CleanLine(l))
	}
	return out
}

// MaxLog bounds Result.Log.
const MaxLog = 32 << 20

// ErrNoMatch is returned when QEMU exits before a console line matched
// Options.Until.
var ErrNoMatch = errors.New("the machine stopped before the serial console showed the awaited line")

var escape = regexp.MustCompile(`\x1b(\[[0-9;?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[=>c78])`)

// CleanLine removes carriage returns and terminal escape sequences.
func CleanLine(s string) string {
	s = escape.ReplaceAllString(s, "")
	return strings.ReplaceAll(s, "\r", "")
}

// Run boots the image and returns when QEMU exits, a console line matches
// Until, or ctx is done (the error then wraps ctx.Err()).
func Run(ctx context.Context, o Options) (Result, error) {
	var res Result
	if o.Image == "" {
		return res, errors.New("no image to boot")
	}
	if o.Firmware == "" {
		o.Firmware = BIOS
	}
	if o.Firmware != BIOS && o.Firmware != UEFI {
		return res, fmt.Errorf("firmware %q: want uefi or bios", o.Firmware)
	}
	if o.QEMU == "" {
		o.QEMU = "qemu-system-x86_64"
	}
	if o.QEMUImg == "" {
		o.QEMUImg = "qemu-img"
	}
	if o.OVMF == (OVMF{}) {
		o.OVMF = DebianOVMF()
	}
	if o.Metadata != "" {
		if _, err := os.Stat(o.Metadata); err != nil {
			return res, fmt.Errorf("metadata: %w", err)
		}
	}
	work := o.WorkDir
	if work == "" {
		d, err := os.MkdirTemp("", "kiln-run-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		work = d
	}
	accel := o.Accel
	if accel == AccelAuto {
		accel = DetectAccel()
	}
	start := time.Now()
	for {
		m, err := prepare(ctx, o, work, accel)
		if err != nil {
			return res, err
		}
		res = Result{Accel: accel, Argv: append(append([]string{o.QEMU}, m.args(o)...), o.ExtraArgs...)}
		err = run(ctx, res.Argv, o, &res)
		res.Duration = time.Since(start)
		if errors.Is(err, errKVM) && o.Accel == AccelAuto {
			// Nested KVM cannot run some firmware (OVMF stops with an
			// emulation failure); software emulation can.
			accel = AccelTCG
			continue
		}
		return res, err
	}
}

// prepare makes the overlay, the firmware variable store and the NoCloud
// volume in work.
func prepare(ctx context.Context, o Options, work string, accel Accel) (machine, error) {
	m := machine{accel: accel}
	var err error
	if m.disk, err = prepareDisk(ctx, o, work); err != nil {
		return m, err
	}
	if o.Firmware == UEFI {
		m.code = o.OVMF.Code
		m.vars = filepath.Join(work, "OVMF_VARS.fd")
		if _, err := os.Stat(m.code); err != nil {
			return m, fmt.Errorf("UEFI firmware (install Debian's ovmf package): %w", err)
		}
		if err := copyFile(o.OVMF.Vars, m.vars); err != nil {
			return m, fmt.Errorf("UEFI variable store: %w", err)
		}
	}
	if o.Metadata == "" {
		return m, nil
	}
	if !o.NoCloud {
		m.fwcfg, err = filepath.Abs(o.Metadata)
		return m, err
	}
	doc, err := os.ReadFile(o.Metadata)
	if err != nil {
		return m, err
	}
	m.cidata = filepath.Join(work, "cidata.iso")
	if err := WriteNoCloudISO(m.cidata, filepath.Join(work, "iso"), map[string][]byte{"kiln.yaml": doc}); err != nil {
		return m, fmt.Errorf("writing the NoCloud volume: %w", err)
	}
	return m, nil
}

// DetectAccel returns AccelKVM when /dev/kvm can be opened for writing,
// AccelTCG otherwise.
func DetectAccel() Accel {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return AccelTCG
	}
	f.Close()
	return AccelKVM
}

// machine is a prepared virtual machine: host paths of its disks and
// firmware.
type machine struct {
	accel  Accel
	disk   string // the qcow2 overlay
	code   string // OVMF code, UEFI only
	vars   string // the copy of the OVMF variable store
	fwcfg  string // metadata file for fw_cfg
	cidata string // NoCloud ISO
}

func (m machine) args(o Options) []string {
	mem, cpus := o.MemoryMiB, o.CPUs
	if mem == 0 {
		mem = 1024
	}
	if cpus == 0 {
		cpus = 2
	}
	a := []string{
		"-nodefaults", "-no-user-config", "-display", "none",
		"-machine", "q35",
		"-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus),
	}
	if m.accel == AccelKVM {
		a = append(a, "-accel", "kvm", "-cpu", "host")
	} else {
		a = append(a, "-accel", "tcg,thread=multi", "-cpu", "max")
	}
	if m.code != "" {
		a = append(a,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+m.code,
			"-drive", "if=pflash,format=raw,unit=1,file="+m.vars)
	}
	// A NIC on QEMU's user network, cut off from the host's but for the
	// forwards: the guest configures it, nothing reaches out.
	nic := "user,model=virtio-net-pci,restrict=on"
	for _, f := range o.Forwards {
		nic += ",guestfwd=tcp:" + f.Guest + "-tcp:" + f.Host
	}
	if o.Tap != "" {
		nic = "tap,model=virtio-net-pci,script=no,downscript=no,ifname=" + o.Tap
	}
	if o.MAC != "" {
		nic += ",mac=" + o.MAC
	}
	a = append(a,
		"-drive", "if=virtio,format=qcow2,file="+m.disk,
		"-nic", nic,
		"-serial", "stdio", "-monitor", "none",
		"-device", "virtio-rng-pci",
	)
	if m.fwcfg != "" {
		a = append(a, "-fw_cfg", "name="+MetadataName+",file="+m.fwcfg)
	}
	if m.cidata != "" {
		a = append(a, "-drive", "if=virtio,format=raw,readonly=on,media=cdrom,file="+m.cidata)
	}
	return a
}

// run starts QEMU and follows its console.
func run(ctx context.Context, argv []string, o Options, res *Result) error {
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	cmd := exec.CommandContext(runCtx, argv[0], argv[1:]...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	kvm := &kvmWatch{w: &limited{w: &stderr, n: 64 << 10}, stop: stop}
	cmd.Stderr = kvm
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", argv[0], err)
	}
	var log logBuffer
	r := bufio.NewReaderSize(out, 64<<10)
	var line []byte
	for {
		b, rerr := r.ReadSlice('\n')
		if len(b) > 0 {
			log.Write(b)
			if o.Serial != nil {
				o.Serial.Write(b)
			}
			if len(line) < 1<<20 {
				line = append(line, b...)
			}
			if b[len(b)-1] == '\n' {
				if o.Until != nil && res.Matched == "" {
					if l := CleanLine(strings.TrimSuffix(string(line), "\n")); o.Until.MatchString(l) {
						res.Matched = l
						stop()
					}
				}
				line = line[:0]
			}
		}
		if rerr != nil && !errors.Is(rerr, bufio.ErrBufferFull) {
			break
		}
	}
	werr := cmd.Wait()
	res.Log = log.Bytes()
	switch {
	case res.Matched != "":
		return nil
	case kvm.failed:
		return fmt.Errorf("%w: %s", errKVM, strings.TrimSpace(stderr.String()))
	case ctx.Err() != nil:
		return fmt.Errorf("booting %s: %w", o.Image, ctx.Err())
	case werr != nil:
		return fmt.Errorf("qemu: %w: %s", werr, strings.TrimSpace(stderr.String()))
	case o.Until != nil:
		return ErrNoMatch
	}
	return nil
}

// errKVM is QEMU's report that KVM could not run the guest; QEMU then
// pauses the machine instead of exiting.
var errKVM = errors.New("KVM could not run the machine")

// kvmWatch passes QEMU's stderr on and stops QEMU when it reports a KVM
// internal error. QEMU writes each message with one write.
type kvmWatch struct {
	w      io.Writer
	stop   func()
	failed bool
}

func (k *kvmWatch) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("KVM internal error")) {
		k.failed = true
		k.stop()
	}
	return k.w.Write(p)
}

// logBuffer keeps the latest MaxLog bytes.
type logBuffer struct{ b []byte }

func (l *logBuffer) Write(p []byte) {
	l.b = append(l.b, p...)
	if len(l.b) > MaxLog {
		l.b = append([]byte(nil), l.b[len(l.b)-MaxLog/2:]...)
	}
}

func (l *logBuffer) Bytes() []byte { return l.b }

// limited writes at most n bytes to w and drops the rest.
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o600)
}
