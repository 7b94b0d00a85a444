package spec

import "github.com/kiln-build/kiln/firstboot/document"

// Error is a mistake in a profile: it names the file, the line when known,
// and the field. It is kiln's one user-error type (document.Error), so
// callers use errors.As to tell it from I/O failures whatever document the
// mistake is in.
type Error = document.Error
