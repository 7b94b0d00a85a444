package clusterimages_test

import (
	"fmt"
	"strings"

	"github.com/kiln-build/kiln/test/clusterimages"
)

// An image takes a package with what it depends on, less the packages
// only maintainer scripts use.
func ExampleStatus_Closure() {
	status, err := clusterimages.ParseStatus(strings.NewReader(`Package: libc6
Status: install ok installed
Version: 2.36-9+deb12u10

Package: conntrack
Status: install ok installed
Version: 1:1.4.7-1+b2
Depends: libc6 (>= 2.34)

Package: haproxy
Status: install ok installed
Version: 2.6.12-1+deb12u3
Pre-Depends: dpkg (>= 1.17.14)
Depends: libc6 (>= 2.34), adduser
`))
	if err != nil {
		panic(err)
	}
	pkgs, err := status.Closure([]string{"haproxy", "conntrack"}, clusterimages.MaintainerOnly)
	if err != nil {
		panic(err)
	}
	for _, p := range pkgs {
		fmt.Println(p.Name, p.Version)
	}
	// Output:
	// conntrack 1:1.4.7-1+b2
	// haproxy 2.6.12-1+deb12u3
	// libc6 2.36-9+deb12u10
}
