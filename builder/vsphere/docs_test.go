package vsphere

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/cluster"
)

// TestDocs keeps docs/vsphere.md naming every key kiln sets and every
// variable it reads, and its size figure near what a bundle really needs.
func TestDocs(t *testing.T) {
	b, err := os.ReadFile("../../docs/vsphere.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, k := range []string{KeyMetadata, KeyEncoding, KeyStatus, KeyImageSHA256, KeyCluster, KeyClusterCA, KeyNode, SnapshotName} {
		if !strings.Contains(doc, "`"+k+"`") {
			t.Errorf("docs/vsphere.md does not mention `%s`", k)
		}
	}
	for _, env := range settingEnv {
		if !strings.Contains(doc, "`"+env+"`") {
			t.Errorf("docs/vsphere.md does not mention `%s`", env)
		}
	}
	extra, err := NodeExtraConfig(newBundle(t), "m1", cluster.NodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kib := (len(extra[KeyMetadata]) + 512) >> 10
	if !strings.Contains(doc, "metadata is about "+strconv.Itoa(kib)+" KiB") {
		t.Errorf("docs/vsphere.md should say a control plane's metadata is about %d KiB", kib)
	}
}
