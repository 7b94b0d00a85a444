// Command kiln bakes immutable Kubernetes node images from yum repositories
// and deploys them. See `kiln --help`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kiln: "+oneLine(err))
		os.Exit(exitCode(err))
	}
}
