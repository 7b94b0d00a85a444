//go:build kiln_tools

// Command coredns is CoreDNS with only the plugins that kubeadm's default Corefile uses (plus
// log), for kiln's test cluster. Upstream's main imports core/plugin, which links every plugin
// and with them the Azure, AWS, Google Cloud, etcd and dnstap clients; this one links what the
// cluster's DNS runs. Directive order still comes from dnsserver.Directives, so the plugins
// run in the order upstream's Corefile semantics expect. Built by test/tools/k8s/addons.sh.
package main

import (
	"github.com/coredns/coredns/coremain"

	// Each plugin registers itself in init; the order they run in is dnsserver.Directives.
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics" // the prometheus directive
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() { coremain.Run() }
