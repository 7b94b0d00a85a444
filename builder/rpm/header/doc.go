// Package header reads RPM package files safely: the 96-byte lead, the
// signature header (and its 8-byte alignment padding) and the main header,
// with typed tag lookup and the byte ranges that rpm's digests and
// signatures cover. It is written for hostile input: every count, offset,
// type and alignment is checked as rpm checks them (with rpm's own size
// limits), memory grows only with bytes actually read, and a truncated file
// is a clear error, never a panic. As in rpm, the signature header may
// carry entries after its region (signing services append tags there: Red
// Hat's IMA file signatures on every RHEL 9 package), the main header may
// not.
//
//	p, err := header.Read(f) // f is left at the start of the payload
//	if err != nil {
//		return err
//	}
//	n, err := p.Header.NEVRA()
//	sum := sha256.Sum256(p.Header.Bytes()) // what signature tag 273 holds
package header
