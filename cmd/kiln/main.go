// Command kiln bakes immutable Kubernetes node images from yum repositories
// and deploys them. See `kiln --help`.
package main

import (
	"context"
	"os"
)

func main() {
	ctx, cancel, stop := signalContext(context.Background())
	stdout := &outputWriter{f: os.Stdout, cancel: cancel}
	stderr := &outputWriter{f: os.Stderr, cancel: cancel}
	root := newRootCommand()
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	stop()
	exitAfter(ctx, err, stderr)
}
