package customize

import (
	"fmt"
	"os"
	"path"
	"strings"
)

// generatedSecret is a file set a package's %post generates once, at
// install time, holding a secret: built into an image, one secret would
// be shared by every clone. kiln removes the files and, on the node's
// first boot, a unit runs the package's own generator again.
type generatedSecret struct {
	name      string   // names the unit: kiln-regenerate-NAME.service
	what      string   // for the unit's description
	generator string   // the package's generator, in the tree
	files     []string // what the generator writes; the first one marks it done
}

// generatedSecrets are those kiln knows, keyed by the generator the
// package ships: nothing is removed from an image without it.
var generatedSecrets = []generatedSecret{{
	// EL7's openldap %post (create-certdb.sh) makes an NSS database for
	// /etc/openldap/certs with a random password in the directory. EL8 on
	// ship the same script from openldap-clients.
	name: "openldap-certdb", what: "the openldap NSS certificate database and its password",
	generator: "/usr/libexec/openldap/create-certdb.sh",
	files: []string{"/etc/openldap/certs/password", "/etc/openldap/certs/cert8.db", "/etc/openldap/certs/key3.db",
		"/etc/openldap/certs/secmod.db", "/etc/openldap/certs/cert9.db", "/etc/openldap/certs/key4.db",
		"/etc/openldap/certs/pkcs11.txt"},
}}

// presentSecrets are the generatedSecrets whose generator the tree has.
func presentSecrets(o Options) ([]generatedSecret, error) {
	var out []generatedSecret
	for _, s := range generatedSecrets {
		hp, err := hostPath(o, s.generator)
		if err != nil {
			return nil, err
		}
		if st, err := os.Stat(hp); err == nil && st.Mode().IsRegular() {
			out = append(out, s)
		}
	}
	return out, nil
}

func (s generatedSecret) unitName() string { return "kiln-regenerate-" + s.name + ".service" }

// unit runs the generator once, before anything on the node can use the
// files, when the first of them is missing.
func (s generatedSecret) unit() []byte {
	return []byte(fmt.Sprintf(`# Installed by kiln. The image was built without %[1]s,
# which the package makes at install time with a random secret: every
# clone would share it. This makes the node its own on first boot.
[Unit]
Description=kiln: generate %[1]s for this node
DefaultDependencies=no
After=local-fs.target
Before=sysinit.target kiln-firstboot.service
ConditionPathExists=!%[2]s
ConditionPathExists=%[3]s

[Service]
Type=oneshot
ExecStart=%[3]s
RemainAfterExit=yes

[Install]
WantedBy=sysinit.target
`, s.what, s.files[0], s.generator))
}

// installSecretUnits writes the units for the secrets the tree has and
// returns their names, to be enabled.
func installSecretUnits(o Options) ([]string, error) {
	secrets, err := presentSecrets(o)
	if err != nil {
		return nil, err
	}
	var units []string
	for _, s := range secrets {
		if err := writeTreeFile(o, path.Join("/usr/lib/systemd/system", s.unitName()), s.unit(), 0o644, 0, 0); err != nil {
			return nil, err
		}
		units = append(units, s.unitName())
	}
	return units, nil
}

// removeSecrets removes the generated secrets whose generator the tree has.
func removeSecrets(o Options) error {
	secrets, err := presentSecrets(o)
	if err != nil {
		return err
	}
	for _, s := range secrets {
		for _, f := range s.files {
			hp, err := hostPath(o, f)
			if err != nil {
				return err
			}
			if err := os.Remove(hp); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("removing %s (%s): %w", f, strings.TrimSpace(s.what), err)
			}
		}
	}
	return nil
}
