package repo

import "github.com/ProtonMail/go-crypto/openpgp"

// Source is one repository as the profile configures it, with its keys
// already loaded. It is the repo stage's input.
type Source struct {
	Name     string
	BaseURLs []string // tried in turn; http(s):// or file://
	// Keys are the OpenPGP keys repomd.xml.asc and the packages may be
	// signed with.
	Keys         openpgp.EntityList
	GPGCheck     bool
	RepoGPGCheck bool
	Priority     int      // lower wins, as in dnf; 99 when unset
	Exclude      []string // package name globs hidden from this repo
}
