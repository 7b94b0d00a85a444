package config

import "github.com/kiln-build/kiln/firstboot/document"

// Error is a mistake in a NodeConfig (or another kiln/v1 document) that the
// person who wrote it can fix: kiln's one user-error type (document.Error).
// Field is the path of the offending field in the document's own spelling,
// such as "cluster.controlPlane.peers[2].address"; Line is the 1-based line
// in the source document, or 0 when the value did not come from a parsed
// document. Callers find it with errors.As.
type Error = document.Error

// errorList collects the user mistakes found in one pass.
type errorList = document.List

// Errors returns every *Error inside err (one, or several joined by Validate
// or Parse), in document order; nil if err holds none.
func Errors(err error) []*Error { return document.Errors(err) }
