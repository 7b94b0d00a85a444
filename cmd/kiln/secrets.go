package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kiln-build/kiln/firstboot/atomicfile"
	"github.com/kiln-build/kiln/firstboot/credential"
)

// credentialTTLFlag adds --credential-ttl: how long the join credential of
// each worker whose metadata the command makes stays valid.
func credentialTTLFlag(f *pflag.FlagSet, ttl *time.Duration) {
	f.DurationVar(ttl, "credential-ttl", credential.DefaultTTL, "how long each worker's join credential is valid from now (the node must join before it expires)")
}

// checkCredentialTTL refuses a lifetime that would make the credential
// useless (0) or is not one.
func checkCredentialTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return usageError{fmt.Errorf("--credential-ttl %s: want a positive duration, e.g. 24h", ttl)}
	}
	return nil
}

// writeSecretFile writes data to path 0600 through a temporary file in the
// same directory, renamed over path once synced, so that path is never
// readable by others nor partly written.
func writeSecretFile(path string, data []byte) error {
	return atomicfile.WriteFile(path, data, atomicfile.Options{Mode: 0o600})
}

// secretOutput is where a command that prints secrets (keys, a token)
// writes them: its standard output, made private first when it is a
// regular file. `kiln metadata --node m1 > m1.yaml` gets m1.yaml from the
// shell with the umask's mode, typically 0644; kiln makes it 0600 before
// writing a byte, as ssh-keygen and kubeadm do for the keys they write. A
// terminal, a pipe or /dev/null is left as it is, and a file that cannot
// be made private is refused.
func secretOutput(cmd *cobra.Command) (io.Writer, error) {
	w := cmd.OutOrStdout()
	f, ok := fileOf(w)
	if !ok {
		return w, nil
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 == 0 {
		return w, nil
	}
	if err := f.Chmod(fi.Mode().Perm() &^ 0o077); err != nil {
		return nil, fmt.Errorf("standard output is a file others can read (%#o) and making it private failed: %w; write it where only you can read it", fi.Mode().Perm(), err)
	}
	return w, nil
}
