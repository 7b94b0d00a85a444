package spec

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// docs/profile.md states the extends depth limit; it is the code's.
func TestDocExtendsLimit(t *testing.T) {
	doc, err := os.ReadFile("../../docs/profile.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := "Chains are at most " + strconv.Itoa(maxExtends) + " deep"; !strings.Contains(string(doc), want) {
		t.Errorf("docs/profile.md does not say %q", want)
	}
}
