package header

// ParseSignature is Parse with the signature header's rules, for tests.
func ParseSignature(b []byte) (*Header, error) { return parse(b, kindSignature) }
