package platform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// CompactStatus checks that statusJSON is one JSON object and returns it on
// a single line, ready for a guestinfo value, a guest attribute or a console
// line.
func CompactStatus(statusJSON []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(statusJSON)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, errors.New("status is not a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, trimmed); err != nil {
		return nil, fmt.Errorf("status is not valid JSON: %w", err)
	}
	return buf.Bytes(), nil
}
