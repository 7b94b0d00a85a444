package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	"github.com/kiln-build/kiln/firstboot/document"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Ignition is an Ignition v3 config kept as compact JSON text. In a YAML
// document it may be written either as a mapping (converted to JSON) or as
// a string holding the JSON, as Butane prints it; in a JSON document it is an
// object. It is marshalled back as a mapping (YAML) or an object (JSON).
// Validate checks it with Ignition's own parser.
type Ignition []byte

// UnmarshalYAML accepts a mapping or a string of JSON.
func (ig *Ignition) UnmarshalYAML(n *yaml.Node) error {
	var raw []byte
	switch {
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null":
		*ig = nil
		return nil
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str":
		raw = []byte(n.Value)
	case n.Kind == yaml.MappingNode:
		var b bytes.Buffer
		if err := nodeToJSON(&b, n, ""); err != nil {
			return err
		}
		raw = b.Bytes()
	default:
		return &Error{Msg: "want an Ignition config: a mapping, or a string holding JSON"}
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return &Error{Msg: fmt.Sprintf("not JSON: %v", err)}
	}
	if b.Len() == 0 || b.Bytes()[0] != '{' {
		return &Error{Msg: "want a JSON object"}
	}
	*ig = b.Bytes()
	return nil
}

// MarshalYAML renders the config as a block mapping with its keys in their
// JSON order.
func (ig Ignition) MarshalYAML() (any, error) {
	if len(ig) == 0 {
		return nil, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(ig, &doc); err != nil {
		return nil, fmt.Errorf("rendering ignition config as YAML: %w", err)
	}
	root := doc.Content[0]
	blockStyle(root)
	return root, nil
}

// blockStyle drops the flow style a JSON source gives every node; the
// encoder still quotes strings that would otherwise read as other types.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// MarshalJSON returns the config itself.
func (ig Ignition) MarshalJSON() ([]byte, error) {
	if len(ig) == 0 {
		return []byte("null"), nil
	}
	return []byte(ig), nil
}

// UnmarshalJSON accepts an object, or a string holding one.
func (ig *Ignition) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*ig = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		b = []byte(s)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return fmt.Errorf("ignition: not JSON: %w", err)
	}
	if out.Len() == 0 || out.Bytes()[0] != '{' {
		return fmt.Errorf("ignition: want a JSON object")
	}
	*ig = out.Bytes()
	return nil
}

// nodeToJSON writes a YAML node tree as JSON, keeping mapping order. path
// names the node (relative to the ignition field) for error messages.
func nodeToJSON(b *bytes.Buffer, n *yaml.Node, path string) error {
	if n.Anchor != "" || n.Kind == yaml.AliasNode {
		return &Error{Field: path, Msg: "YAML anchors and aliases are not supported"}
	}
	switch n.Kind {
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return &Error{Field: path, Msg: "mapping keys must be plain strings"}
			}
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, k.Value)
			b.WriteByte(':')
			if err := nodeToJSON(b, v, document.Join(path, k.Value)); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, e := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := nodeToJSON(b, e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			b.WriteString("null")
		case "!!bool":
			var v bool
			if err := n.Decode(&v); err != nil {
				return &Error{Field: path, Msg: err.Error()}
			}
			b.WriteString(strconv.FormatBool(v))
		case "!!int":
			var v int64
			if err := n.Decode(&v); err != nil {
				return &Error{Field: path, Msg: fmt.Sprintf("%q is out of range", n.Value)}
			}
			b.WriteString(strconv.FormatInt(v, 10))
		case "!!float":
			var v float64
			if err := n.Decode(&v); err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return &Error{Field: path, Msg: fmt.Sprintf("%q is not a JSON number", n.Value)}
			}
			out, _ := json.Marshal(v)
			b.Write(out)
		default:
			writeJSONString(b, n.Value)
		}
	default:
		return &Error{Field: path, Msg: "unexpected YAML node"}
	}
	return nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	out, _ := json.Marshal(s) // a string always marshals
	b.Write(out)
}
