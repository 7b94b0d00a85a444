package platform

import (
	"context"
	"errors"
	"fmt"

	"github.com/kiln-build/kiln/firstboot/config"
)

// MaxMetadataSize bounds the metadata a platform returns, after any
// transport decoding. Real node metadata is a few KiB; the cap keeps hostile
// or broken sources from exhausting memory. It is config.MaxDocumentSize.
const MaxMetadataSize = config.MaxDocumentSize

// Platform is one source of node metadata.
type Platform interface {
	// Name is the platform's registry name: "vmware", "gce", "nocloud",
	// "qemu" or "file".
	Name() string
	// Metadata returns the node's metadata as raw YAML or JSON text. It
	// returns an error wrapping ErrNoMetadata when the source is there but
	// holds no kiln metadata (never set, or already scrubbed).
	Metadata(ctx context.Context) ([]byte, error)
}

// StatusReporter is a Platform with a back channel to whoever created the
// VM. statusJSON is one JSON document; it replaces the previous status.
type StatusReporter interface {
	ReportStatus(ctx context.Context, statusJSON []byte) error
}

// SecretScrubber is a Platform whose metadata stays readable by any process
// in the guest after first boot, and which can blank it once the agent has
// saved what it needs.
type SecretScrubber interface {
	ScrubMetadata(ctx context.Context) error
}

var (
	// ErrNoMetadata means the source is present but holds no kiln metadata.
	ErrNoMetadata = errors.New("no kiln metadata")
	// ErrNotDetected means no metadata source was recognised.
	ErrNotDetected = errors.New("no metadata platform detected")
	// ErrNoStatusChannel means the platform's status channel is switched
	// off (for example GCE guest attributes not enabled on the instance);
	// retrying will not help.
	ErrNoStatusChannel = errors.New("status channel not available")
)

// BadMetadataError is metadata that is present but malformed at the
// transport level: an unknown encoding, invalid base64, a corrupt gzip
// stream, a value over the size limit. It is the user's mistake, so callers
// can tell it apart from I/O trouble with errors.As.
type BadMetadataError struct {
	Where string // the key, attribute or file that holds the bad value
	Err   error
}

func (e *BadMetadataError) Error() string { return fmt.Sprintf("%s: %v", e.Where, e.Err) }
func (e *BadMetadataError) Unwrap() error { return e.Err }
