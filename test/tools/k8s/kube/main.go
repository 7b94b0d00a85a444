//go:build kiln_tools

// kube is the real Kubernetes, in one multi-call binary, for kiln's cluster test: kubeadm,
// kubelet, kubectl, kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy and
// etcd, each the upstream command, chosen by the name the binary is called by (as hyperkube
// and busybox do). One binary compiles and links once, and the four control-plane images
// and the node packages share its bytes, so containerd stores the layer once.
//
// It is not part of kiln: test/tools/k8s/build.sh copies it into a throwaway module that
// requires k8s.io/kubernetes and builds it there, so kiln's go.mod never depends on it.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	_ "time/tzdata" // kube-controller-manager: CronJob time zones

	etcdmain "go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectl "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubeadm "k8s.io/kubernetes/cmd/kubeadm/app"
	kubeadmerrors "k8s.io/kubernetes/cmd/kubeadm/app/util/errors"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

// commands maps each name to what its upstream main does.
var commands = map[string]func(args []string){
	"kubeadm":                 func([]string) { kubeadmerrors.HandleError(kubeadm.Run()) },
	"kubelet":                 func([]string) { os.Exit(cli.Run(kubelet.NewKubeletCommand(context.Background()))) },
	"kube-apiserver":          func([]string) { os.Exit(cli.Run(apiserver.NewAPIServerCommand())) },
	"kube-controller-manager": func([]string) { os.Exit(cli.Run(controllermanager.NewControllerManagerCommand())) },
	"kube-scheduler":          func([]string) { os.Exit(cli.Run(scheduler.NewSchedulerCommand())) },
	"kube-proxy":              func([]string) { os.Exit(cli.Run(proxy.NewProxyCommand())) },
	"etcd":                    func(args []string) { etcdmain.Main(args) },
	"kubectl": func(args []string) {
		logs.GlogSetter(kubectl.GetLogVerbosity(args)) //nolint:errcheck
		if err := cli.RunNoErrOutput(kubectl.NewDefaultKubectlCommand()); err != nil {
			kubectlutil.CheckErr(err)
		}
	},
}

func main() {
	name := filepath.Base(os.Args[0])
	if run, ok := commands[name]; ok {
		run(os.Args)
		return
	}
	// "kube kubelet --flags": the command as the first argument.
	if len(os.Args) > 1 {
		if run, ok := commands[os.Args[1]]; ok {
			os.Args = os.Args[1:]
			run(os.Args)
			return
		}
	}
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	fmt.Fprintf(os.Stderr, "kube: call me as one of %s (a symlink or the first argument)\n", strings.Join(names, ", "))
	os.Exit(2)
}
