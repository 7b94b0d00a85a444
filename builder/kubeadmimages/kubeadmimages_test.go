package kubeadmimages

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/reftest"
)

func TestLookupReadsTheRowOfThePatchRelease(t *testing.T) {
	for _, tc := range []struct {
		version string
		want    Versions
	}{
		{"v1.34.0", Versions{"3.6.4-0", "v1.12.1", "3.10.1"}},
		{"1.34.2", Versions{"3.6.5-0", "v1.12.1", "3.10.1"}},
		{"v1.34.4", Versions{"3.6.5-0", "v1.12.1", "3.10.1"}},
		{"v1.33.9", Versions{"3.5.24-0", "v1.12.0", "3.10"}},
		{"v1.31.0", Versions{"3.5.15-0", "v1.11.1", "3.10"}},
		{"v1.30.14", Versions{"3.5.15-0", "v1.11.3", "3.9"}},
	} {
		got, err := Lookup(tc.version)
		if err != nil || got != tc.want {
			t.Errorf("Lookup(%q) = %+v, %v, want %+v", tc.version, got, err, tc.want)
		}
	}
}

func TestLookupRefusesVersionsOutsideTheTable(t *testing.T) {
	for _, v := range []string{"v1.34.1", "v1.34.5", "v1.35.0", "v1.29.9", "v2.0.0"} {
		_, err := Lookup(v)
		if !errors.Is(err, ErrUnknownVersion) || !strings.Contains(err.Error(), v) {
			t.Errorf("Lookup(%q) error = %v, want ErrUnknownVersion naming the version", v, err)
		}
	}
	if _, err := Lookup("1.34"); err == nil || errors.Is(err, ErrUnknownVersion) {
		t.Errorf("Lookup(%q) error = %v, want a parse error", "1.34", err)
	}
}

func TestForFollowsKubeadmsNaming(t *testing.T) {
	for _, tc := range []struct {
		repo string
		want []string
	}{
		{"", []string{
			"registry.k8s.io/kube-apiserver:v1.34.2", "registry.k8s.io/kube-controller-manager:v1.34.2",
			"registry.k8s.io/kube-scheduler:v1.34.2", "registry.k8s.io/kube-proxy:v1.34.2",
			"registry.k8s.io/coredns/coredns:v1.12.1", "registry.k8s.io/pause:3.10.1", "registry.k8s.io/etcd:3.6.5-0"}},
		{"kiln.test/k8s", []string{
			"kiln.test/k8s/kube-apiserver:v1.34.2", "kiln.test/k8s/kube-controller-manager:v1.34.2",
			"kiln.test/k8s/kube-scheduler:v1.34.2", "kiln.test/k8s/kube-proxy:v1.34.2",
			"kiln.test/k8s/coredns:v1.12.1", "kiln.test/k8s/pause:3.10.1", "kiln.test/k8s/etcd:3.6.5-0"}},
	} {
		im, err := For("1.34.2", tc.repo)
		if err != nil {
			t.Fatal(err)
		}
		if got := im.List(); !slices.Equal(got, tc.want) {
			t.Errorf("For(1.34.2, %q).List() = %q, want %q", tc.repo, got, tc.want)
		}
	}
}

func TestTableRowsAreOrderedAndDisjoint(t *testing.T) {
	for i, r := range table {
		if r.firstPatch > r.lastPatch || r.Etcd == "" || r.CoreDNS == "" || r.Pause == "" {
			t.Errorf("table[%d] = %+v is malformed", i, r)
		}
		if i > 0 {
			p := table[i-1]
			if p.minor > r.minor || p.minor == r.minor && p.lastPatch >= r.firstPatch {
				t.Errorf("table[%d] (1.%d.%d) overlaps or precedes table[%d]", i, r.minor, r.firstPatch, i-1)
			}
		}
	}
}

// The oracle: a real kubeadm, built by `make tools`, lists the images of its own version
// (with the default repository and with another one), and the table must agree.
func TestForMatchesKubeadmConfigImagesList(t *testing.T) {
	for _, version := range []string{"v1.30.14", "v1.34.4"} {
		t.Run(version, func(t *testing.T) {
			bin := reftest.Built(t, "kubeadm-"+version)
			for _, repo := range []string{"", "kiln.test/k8s"} {
				args := []string{"config", "images", "list", "--kubernetes-version", version}
				if repo != "" {
					args = append(args, "--image-repository", repo)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				var out, errOut bytes.Buffer
				cmd := exec.CommandContext(ctx, bin, args...)
				cmd.Stdout, cmd.Stderr = &out, &errOut
				err := cmd.Run()
				cancel()
				if err != nil {
					t.Fatalf("kubeadm %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
				}
				want := strings.Fields(out.String())
				im, err := For(version, repo)
				if err != nil {
					t.Fatal(err)
				}
				if got := im.List(); !slices.Equal(got, want) {
					t.Errorf("For(%s, %q).List() = %q, kubeadm lists %q", version, repo, got, want)
				}
			}
		})
	}
}
