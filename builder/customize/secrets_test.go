package customize

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/chroot"
	"github.com/kiln-build/kiln/builder/install"
	"github.com/kiln-build/kiln/builder/reftest"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest/el7"
)

// TestOpenLDAPSecretIsMadePerNode installs the real CentOS 7.9 openldap,
// whose %post makes an NSS database with a random password: built into
// the image, every clone would share it. kiln removes it and installs a
// unit; running that unit's command in the image, as first boot does,
// makes a database with a new password.
func TestOpenLDAPSecretIsMadePerNode(t *testing.T) {
	reftest.Root(t)
	var pkgs []install.Package
	for _, p := range el7.Closure(t, t.TempDir(), "rpm", "openldap") {
		pkgs = append(pkgs, install.Package{NEVRA: p.NEVRA, Path: p.Path})
	}
	work := t.TempDir()
	root := filepath.Join(work, "root")
	if _, err := install.Install(context.Background(), install.Options{Root: root, Tools: filepath.Join(work, "tools"), Packages: pkgs}); err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(root, "etc/openldap/certs")
	built, err := os.ReadFile(filepath.Join(certs, "password"))
	if err != nil {
		t.Fatalf("openldap's %%post made no password: %v", err)
	}
	o := Options{Root: root}
	units, err := installSecretUnits(o)
	if err != nil || strings.Join(units, " ") != "kiln-regenerate-openldap-certdb.service" {
		t.Fatalf("installSecretUnits() = %v, %v", units, err)
	}
	if err := removeSecrets(o); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(certs); len(ents) != 0 {
		t.Errorf("%s still holds %d files", certs, len(ents))
	}
	unit, err := os.ReadFile(filepath.Join(root, "usr/lib/systemd/system", units[0]))
	if err != nil || !bytes.Contains(unit, []byte("ExecStart=/usr/libexec/openldap/create-certdb.sh\n")) ||
		!bytes.Contains(unit, []byte("ConditionPathExists=!/etc/openldap/certs/password\n")) {
		t.Fatalf("unit: %v\n%s", err, unit)
	}
	// First boot, as the unit runs it.
	var out bytes.Buffer
	spec := chroot.Spec{Root: root, Binds: []chroot.Bind{{Type: chroot.Dev, Target: "/dev"}, {Type: chroot.Proc, Target: "/proc"}}}
	if err := chroot.Run(context.Background(), spec, []string{"/usr/libexec/openldap/create-certdb.sh"}, &out, &out); err != nil {
		t.Fatalf("create-certdb.sh: %v\n%s", err, out.String())
	}
	node, err := os.ReadFile(filepath.Join(certs, "password"))
	if err != nil || len(node) == 0 || bytes.Equal(node, built) {
		t.Errorf("the node's password %q (%v); the build's was %q", node, err, built)
	}
	for _, db := range []string{"cert8.db", "key3.db", "secmod.db"} {
		if _, err := os.Stat(filepath.Join(certs, db)); err != nil {
			t.Errorf("first boot made no %s: %v", db, err)
		}
	}
}
