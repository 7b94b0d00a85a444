package spec

import "github.com/kiln-build/kiln/firstboot/document"

// Decode parses one profile document strictly with kiln's one reader of
// kiln/v1 documents (firstboot/document): an unknown key, a value of the
// wrong type, an anchor or a second document is an *Error naming file, line
// and field. It does not follow extends, resolve paths or validate.
func Decode(file string, data []byte) (*Profile, error) {
	p := &Profile{}
	lines, err := document.Decode(file, data, p)
	if err != nil {
		return nil, err
	}
	p.source = file
	p.lines = lines
	return p, nil
}
