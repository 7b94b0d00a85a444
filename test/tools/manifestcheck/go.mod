// This directory is its own module so kiln's go.mod never depends on
// k8s.io/kubernetes: test/tools/kubeadm/build.sh copies main.go into the
// throwaway module that builds kubeadm and builds it there.
module github.com/kiln-build/kiln/test/tools/manifestcheck

go 1.26
