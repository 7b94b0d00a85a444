package command_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/firstboot/command"
)

func TestAFailingCommandIsACommandErrorWithItsExitCodeAndStderr(t *testing.T) {
	out, err := command.ExecRunner{}.Run(context.Background(), "sh", "-c", "echo partial; echo 'No value found' >&2; exit 3")
	var ce *command.Error
	if !errors.As(err, &ce) || ce.ExitCode != 3 || string(ce.Stderr) != "No value found\n" || string(out) != "partial\n" {
		t.Fatalf("Run = %q, %v; want stdout and a *Error with exit 3 and the stderr", out, err)
	}
	if want := `sh -c 'echo partial; echo '\''No value found'\'' >&2; exit 3': exit status 3: No value found`; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestALongStderrKeepsItsEnd(t *testing.T) {
	e := &command.Error{Cmd: "kubeadm join", ExitCode: 1, Stderr: []byte(strings.Repeat("x", 5000) + "the real reason")}
	msg := e.Error()
	if len(msg) > 2100 || !strings.HasSuffix(msg, "the real reason") || !strings.Contains(msg, ": ...x") {
		t.Errorf("error of %d bytes, ending %q; want at most ~2000 bytes of stderr, its end kept", len(msg), msg[len(msg)-20:])
	}
}

func TestAMissingBinaryWrapsErrNotFound(t *testing.T) {
	_, err := command.ExecRunner{}.Run(context.Background(), "kiln-no-such-tool")
	if !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("Run(missing) = %v, want exec.ErrNotFound", err)
	}
}

func ExampleLine() {
	fmt.Println(command.Line("nmcli", "connection", "modify", "kiln eth0", "ipv4.dns", ""))
	// Output: nmcli connection modify 'kiln eth0' ipv4.dns ''
}

func TestLineQuotesWhatAShellWouldSplit(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"kubeadm", "init", "--config", "/etc/kubernetes/kubeadm-config.yaml"}, "kubeadm init --config /etc/kubernetes/kubeadm-config.yaml"},
		{[]string{"sh", "-c", "echo it's"}, `sh -c 'echo it'\''s'`},
		{[]string{"x", ""}, "x ''"},
	} {
		if got := command.Line(tc.args[0], tc.args[1:]...); got != tc.want {
			t.Errorf("Line(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}
