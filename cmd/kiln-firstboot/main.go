// Command kiln-firstboot is the guest agent baked into every kiln image: on
// first boot it reads the node's metadata and prepares the host, then
// initializes, joins or extends the cluster with kubeadm.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "kiln-firstboot: not built yet (see issue: kiln-firstboot)")
	os.Exit(1)
}
