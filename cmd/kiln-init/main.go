// Command kiln-init is PID 1 of the initramfs kiln builds: it finds root by
// UUID, grows it on a larger disk, and hands over to the image's systemd.
// It is built static (CGO_ENABLED=0) and copied into each initramfs.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/kiln-build/kiln/builder/boot/kilninit"
	"golang.org/x/sys/unix"
)

// consoleLog writes to the console and, once /dev is mounted, the kernel
// log, so the lines also reach journald in the booted system.
type consoleLog struct{ kmsg *os.File }

func (l *consoleLog) Printf(format string, args ...any) {
	line := fmt.Sprintf(format, args...) + "\n"
	os.Stdout.WriteString(line)
	if l.kmsg == nil {
		l.kmsg, _ = os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	}
	if l.kmsg != nil {
		// Debug level keeps the kernel from echoing the line to the
		// console a second time.
		l.kmsg.WriteString("<7>" + line)
	}
}

func main() {
	log := &consoleLog{}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "kiln-init: must run as PID 1 in the initramfs")
		os.Exit(2)
	}
	err := kilninit.Run(log)
	log.Printf("kiln-init: boot failed: %v", err)
	if raw, _ := os.ReadFile("/proc/cmdline"); kilninit.ParseCmdline(string(raw)).Debug {
		log.Printf("kiln-init: kiln.debug is set; staying up")
		for {
			time.Sleep(time.Hour)
		}
	}
	log.Printf("kiln-init: powering off in 10 seconds")
	time.Sleep(10 * time.Second)
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}
