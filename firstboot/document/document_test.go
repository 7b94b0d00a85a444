package document_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/kiln-build/kiln/firstboot/document"
)

type repo struct {
	Name    string   `yaml:"name"`
	BaseURL []string `yaml:"baseurl"`
	Check   bool     `yaml:"gpgcheck"`
}

type doc struct {
	Kind   string            `yaml:"kind"`
	Repos  []repo            `yaml:"repos"`
	Sysctl map[string]string `yaml:"sysctl"`
	Size   int               `yaml:"size"`
}

func TestDecodeNamesFileLineAndFieldForEveryMistake(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"near miss", "kind: x\nrepos:\n  - name: a\n    baseurls: [u]\n", `f.yaml:4: repos[0].baseurls: unknown field (did you mean "baseurl"?)`},
		{"far miss", "kind: x\nzzz: 1\n", `f.yaml:2: zzz: unknown field (want one of: kind, repos, size, sysctl)`},
		{"twice", "kind: x\nkind: y\n", `f.yaml:2: kind: field given twice`},
		{"key twice", "sysctl:\n  net.ipv4.ip_forward: '1'\n  net.ipv4.ip_forward: '0'\n", `f.yaml:3: sysctl["net.ipv4.ip_forward"]: key given twice`},
		{"yes is not a boolean", "repos:\n  - gpgcheck: yes\n", `f.yaml:2: repos[0].gpgcheck: "yes" is not a boolean (want true or false)`},
		{"quoted number", "size: '2'\n", `f.yaml:1: size: "2" is not a whole number`},
		{"shape", "repos: {name: a}\n", `f.yaml:1: repos: want a list, got a mapping`},
		{"alias", "kind: &k x\nrepos: []\n", `f.yaml:1: kind: YAML anchors and aliases are not supported`},
		{"two documents", "kind: x\n---\nkind: y\n", `f.yaml:2: more than one document; want exactly one`},
		{"empty", "", `f.yaml: empty document`},
		{"syntax", "kind: [\n", `f.yaml:1: did not find expected node content`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d doc
			_, err := document.Decode("f.yaml", []byte(tc.in), &d)
			var de *document.Error
			if !errors.As(err, &de) || err.Error() != tc.want {
				t.Errorf("Decode(%q) = %v, want *Error %q", tc.in, err, tc.want)
			}
		})
	}
}

func TestDecodeWithoutAFileSaysTheLine(t *testing.T) {
	var d doc
	_, err := document.Decode("", []byte("kind: x\nsize: big\n"), &d)
	if want := `line 2: size: "big" is not a whole number`; err == nil || err.Error() != want {
		t.Errorf("Decode = %v, want %q", err, want)
	}
}

func TestValidationErrorsFindTheirLines(t *testing.T) {
	var d doc
	lines, err := document.Decode("f.yaml", []byte("kind: x\nrepos:\n  - name: a\n    baseurl: [u, v]\nsysctl:\n  vm.swappiness: ''\n"), &d)
	if err != nil {
		t.Fatal(err)
	}
	var errs document.List
	errs.Add("repos[0].baseurl[1]", "%q is not a URL", d.Repos[0].BaseURL[1])
	errs.Add(document.KeyPath("sysctl", "vm.swappiness"), "empty value")
	errs.Add("repos[0].baseurl[7]", "missing") // no line of its own: its parent's
	errs.Add("name", "a name is needed")       // never written: no line
	err = errs.Locate("f.yaml", lines).Err()
	want := `f.yaml:4: repos[0].baseurl[1]: "v" is not a URL
f.yaml:6: sysctl["vm.swappiness"]: empty value
f.yaml:4: repos[0].baseurl[7]: missing
f.yaml: name: a name is needed`
	if err == nil || err.Error() != want {
		t.Errorf("errors:\n%v\nwant:\n%s", err, want)
	}
	if got := document.Errors(fmt.Errorf("checking: %w", err)); len(got) != 4 {
		t.Errorf("Errors through a wrap found %d, want 4", len(got))
	}
	var one *document.Error
	if !errors.As(err, &one) || one.Field != "repos[0].baseurl[1]" {
		t.Errorf("errors.As found %v, want the first", one)
	}
}

func TestParentAndKeyPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a[1].b", "a[1]"},
		{"a[1]", "a"},
		{`node.labels["kubernetes.io/os"]`, "node.labels"},
		{"a", ""},
	} {
		if got := document.Parent(tc.in); got != tc.want {
			t.Errorf("Parent(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := document.KeyPath("kubernetes.images", "haproxy"); got != "kubernetes.images.haproxy" {
		t.Errorf("KeyPath(plain) = %q", got)
	}
	if got := document.KeyPath("sysctl", "net.ipv4.ip_forward"); got != `sysctl["net.ipv4.ip_forward"]` {
		t.Errorf("KeyPath(dotted) = %q", got)
	}
}

func ExampleDecode() {
	var d doc
	_, err := document.Decode("node.yaml", []byte("kind: Profile\nrepos:\n  - name: base\n    baseurls: [https://mirror.example/el9]\n"), &d)
	fmt.Println(err)
	// Output: node.yaml:4: repos[0].baseurls: unknown field (did you mean "baseurl"?)
}
