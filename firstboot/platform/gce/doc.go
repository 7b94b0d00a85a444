// Package gce reads a node's metadata from the Google Compute Engine
// metadata server and reports progress as a guest attribute.
//
// The metadata is the instance attribute kiln-metadata (plain YAML or JSON
// text), read from
// http://metadata.google.internal/computeMetadata/v1/instance/attributes/kiln-metadata
// with the header "Metadata-Flavor: Google". A 404 means the attribute is
// not set (platform.ErrNoMetadata); connection errors, 429 and 5xx are
// retried with exponential backoff and jitter, since the network may still
// be coming up at first boot.
//
// Status goes to the guest attribute kiln/status with
// PUT .../instance/guest-attributes/kiln/status. Guest attributes must be
// enabled on the instance or project (metadata enable-guest-attributes=TRUE);
// without it the PUT is refused and ReportStatus returns an error wrapping
// platform.ErrNoStatusChannel. Compute Engine allows about 10 guest
// attribute writes a minute (bursts of 3 a second) and may drop writes
// beyond that, so report phases, not progress ticks. Read it from outside
// with: gcloud compute instances get-guest-attributes VM --query-path=kiln/status
//
//	p := gce.New(gce.Options{})
//	md, err := p.Metadata(ctx)
package gce
