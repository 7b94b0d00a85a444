package customize

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/kiln-build/kiln/builder/jks"
)

// generatedKeystore is a Java keystore a package's scriptlet writes at
// install time with the time of writing in every entry: two builds of
// one lock would differ in it. kiln dates the entries ModTime
// (SOURCE_DATE_EPOCH) and seals the store again with its password.
type generatedKeystore struct {
	path     string
	password string // the one the writer seals the store with
	writer   string // for messages
}

var generatedKeystores = []generatedKeystore{{
	// ca-certificates' %post runs update-ca-trust, whose p11-kit
	// `trust extract --format=java-cacerts` writes a JKS store sealed
	// with Java's default password (EL7 to EL9); /etc/pki/java/cacerts
	// links to it.
	path: "/etc/pki/ca-trust/extracted/java/cacerts", password: "changeit", writer: "update-ca-trust",
}}

// dateKeystores makes the generated keystores the tree has reproducible,
// in place (the file keeps its owner, mode and label).
func dateKeystores(o Options) error {
	if o.ModTime.IsZero() {
		return nil
	}
	for _, k := range generatedKeystores {
		hp, err := hostPath(o, k.path)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(hp)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := jks.MakeReproducible(b, k.password, o.ModTime); err != nil {
			return fmt.Errorf("%s, written by %s: %w", k.path, k.writer, err)
		}
		if err := os.WriteFile(hp, b, 0); err != nil {
			return err
		}
	}
	return nil
}
