package rpmdb_test

import (
	"fmt"

	"github.com/kiln-build/kiln/builder/rpm/rpmdb"
)

// Every image's Packages file gets the same Berkeley DB file id.
func ExampleFileID() {
	fmt.Printf("%x\n", rpmdb.FileID("Packages"))
	// Output: b5630a778468301fa2db30c2534a904cff1574f9
}
