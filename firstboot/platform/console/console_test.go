package console_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/firstboot/platform"
	"github.com/kiln-build/kiln/firstboot/platform/console"
)

var _ platform.StatusReporter = (*console.Writer)(nil)

func TestFormatLine(t *testing.T) {
	got, err := console.FormatLine([]byte("{\n  \"phase\": \"init\",\n  \"ok\": true\n}\n"))
	if want := "KILN-STATUS {\"phase\":\"init\",\"ok\":true}\n"; err != nil || string(got) != want {
		t.Errorf("FormatLine = %q, %v; want %q", got, err, want)
	}
	if _, err := console.FormatLine([]byte("init ok")); err == nil {
		t.Error("FormatLine accepted non-JSON")
	}
}

func TestParseLine(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"KILN-STATUS {\"phase\":\"init\"}\n", `{"phase":"init"}`, true},
		{"[   12.345678] random: crng init done\rKILN-STATUS {\"phase\": \"join\"}\r\n", `{"phase":"join"}`, true},
		{"KILN-STATUS {\"phase\":", "", false},
		{"Booting `Rocky Linux'", "", false},
	}
	for _, tt := range tests {
		got, ok := console.ParseLine([]byte(tt.in))
		if ok != tt.ok || string(got) != tt.want {
			t.Errorf("ParseLine(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func fakeDev(t *testing.T, root string, names ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(root, "dev", n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWriter(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		devs []string
		want string
	}{
		{[]string{"ttyS0", "console"}, "ttyS0"},
		{[]string{"console"}, "console"},
	} {
		root := t.TempDir()
		fakeDev(t, root, tt.devs...)
		w, err := console.Open(root)
		if err != nil {
			t.Fatal(err)
		}
		if w.Path() != filepath.Join(root, "dev", tt.want) {
			t.Errorf("Open picked %s, want dev/%s", w.Path(), tt.want)
		}
		for _, s := range []string{`{"phase":"init"}`, "{\"phase\": \"done\",\n \"ok\": true}"} {
			if err := w.ReportStatus(ctx, []byte(s)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.ReportStatus(ctx, []byte("nope")); err == nil {
			t.Error("ReportStatus accepted non-JSON")
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(w.Path())
		if err != nil {
			t.Fatal(err)
		}
		want := "KILN-STATUS {\"phase\":\"init\"}\nKILN-STATUS {\"phase\":\"done\",\"ok\":true}\n"
		if string(got) != want {
			t.Errorf("%s holds %q, want %q", tt.want, got, want)
		}
	}

	root := t.TempDir()
	fakeDev(t, root)
	if _, err := console.Open(root); err == nil || !strings.Contains(err.Error(), "ttyS0") {
		t.Errorf("Open with no devices: %v, want an error naming ttyS0", err)
	}
	if _, err := os.Stat(filepath.Join(root, "dev/ttyS0")); err == nil {
		t.Error("Open created dev/ttyS0")
	}
}
