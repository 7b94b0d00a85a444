package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

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
