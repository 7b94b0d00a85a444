package config

import (
	"fmt"
	"io"

	"github.com/kiln-build/kiln/firstboot/document"
)

// MaxDocumentSize bounds what Load reads: metadata travels through guestinfo
// keys and cloud attributes that are far smaller, so anything bigger is a
// mistake or hostile. It is the agent's limit too (platform.MaxMetadataSize),
// so that a document kiln accepts is one a node accepts.
const MaxDocumentSize = 1 << 20

// Load reads one NodeConfig document (YAML or JSON) from r, applies the
// defaults and validates it. See Parse.
func Load(r io.Reader) (*NodeConfig, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading node config: %w", err)
	}
	if len(data) > MaxDocumentSize {
		return nil, &Error{Msg: fmt.Sprintf("document is larger than %d bytes", MaxDocumentSize)}
	}
	return Parse(data)
}

// Parse decodes one NodeConfig document strictly (YAML or JSON, which is
// YAML too), applies the defaults and validates it. Every user mistake is a
// *Error naming the field and its line; several are returned together (see
// Errors).
func Parse(data []byte) (*NodeConfig, error) {
	var c NodeConfig
	lines, err := document.Decode("", data, &c)
	if err != nil {
		return nil, err
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		for _, e := range Errors(err) {
			e.Line = lines.Of(e.Field)
		}
		return nil, err
	}
	return &c, nil
}
