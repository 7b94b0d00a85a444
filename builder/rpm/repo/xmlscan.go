package repo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// scanner is a streaming XML tokenizer specialised for repodata. It knows
// only what primary.xml and filelists.xml use: elements, attributes,
// character data with the five predefined entities and numeric character
// references, CDATA sections, comments, processing instructions and a
// DOCTYPE without an internal subset. Names and values it returns point
// into its buffer and are valid until the next call. It is several times
// faster than encoding/xml because it allocates nothing per token.
//
// Every token must fit in maxToken bytes; character data that nobody asks
// for (descriptions, unknown elements) is skipped as a stream and is not
// bounded.
type scanner struct {
	r        io.Reader
	buf      []byte // unread data is buf[pos:end]
	pos, end int
	off      int64 // input offset of buf[0], for error messages
	eof      bool
	rerr     error
	maxToken int

	name       []byte // current element's qualified name
	attrs      []xmlAttr
	pendingEnd bool // the current element was <x/>: its end comes next

	stack    []byte // open elements' names, concatenated
	stackLen []int
	scratch  []byte // decoded attribute values and text
}

type xmlAttr struct {
	name, value []byte
}

type tokKind uint8

const (
	tokStart tokKind = iota + 1
	tokEnd
)

const (
	maxDepth = 64
	maxAttrs = 64
	// defaultMaxToken bounds one tag or one wanted piece of text. Real
	// repodata stays under a few KiB; a hostile file gets an error instead
	// of an ever-growing buffer.
	defaultMaxToken = 1 << 20
)

// errSyntax is wrapped by every malformed-XML error.
var errSyntax = errors.New("malformed XML")

func newScanner(r io.Reader) *scanner {
	return &scanner{r: r, buf: make([]byte, 64<<10), maxToken: defaultMaxToken}
}

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at byte %d: %s", errSyntax, s.off+int64(s.pos), fmt.Sprintf(format, args...))
}

// fill reads more input after buf[end], first moving the unread bytes to
// the front. Offsets relative to pos stay valid across a fill. It returns
// false at the end of input or on a read error (kept in rerr).
func (s *scanner) fill() bool {
	if s.eof {
		return false
	}
	if s.pos > 0 {
		n := copy(s.buf, s.buf[s.pos:s.end])
		s.off += int64(s.pos)
		s.pos, s.end = 0, n
	}
	if s.end == len(s.buf) {
		if len(s.buf) >= s.maxToken {
			s.rerr = s.errorf("token longer than %d bytes", s.maxToken)
			s.eof = true
			return false
		}
		nb := make([]byte, min(2*len(s.buf), s.maxToken))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for tries := 0; tries < 100; tries++ {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			s.eof = true
			if err != io.EOF {
				s.rerr = err
			}
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	s.eof, s.rerr = true, io.ErrNoProgress
	return false
}

// endErr is the error for input that ended inside a construct.
func (s *scanner) endErr(what string) error {
	if s.rerr != nil {
		return s.rerr
	}
	return s.errorf("unexpected end of input in %s", what)
}

// find returns the offset, relative to pos and at or after from, of the
// first byte c, reading more input as needed.
func (s *scanner) find(from int, c byte, what string) (int, error) {
	for {
		if i := bytes.IndexByte(s.buf[s.pos+from:s.end], c); i >= 0 {
			return from + i, nil
		}
		from = s.end - s.pos
		if !s.fill() {
			return 0, s.endErr(what)
		}
	}
}

// findSeq is find for a multi-byte terminator.
func (s *scanner) findSeq(from int, seq string, what string) (int, error) {
	for {
		if i := bytes.Index(s.buf[s.pos+from:s.end], []byte(seq)); i >= 0 {
			return from + i, nil
		}
		from = max(from, s.end-s.pos-len(seq)+1)
		if !s.fill() {
			return 0, s.endErr(what)
		}
	}
}

// need makes sure n unread bytes are buffered, if the input has them.
func (s *scanner) need(n int) bool {
	for s.end-s.pos < n {
		if !s.fill() {
			return false
		}
	}
	return true
}

func (s *scanner) hasPrefix(p string) bool {
	return s.need(len(p)) && string(s.buf[s.pos:s.pos+len(p)]) == p
}

// next returns the next start or end tag, skipping character data,
// comments, processing instructions and the DOCTYPE. At the end of a
// well-formed document it returns io.EOF.
func (s *scanner) next() (tokKind, error) {
	if s.pendingEnd {
		s.pendingEnd = false
		s.pop()
		return tokEnd, nil
	}
	for {
		i := bytes.IndexByte(s.buf[s.pos:s.end], '<')
		if i < 0 {
			s.pos = s.end
			if !s.fill() {
				if s.rerr != nil {
					return 0, s.rerr
				}
				if len(s.stackLen) > 0 {
					return 0, s.errorf("unexpected end of input inside <%s>", s.top())
				}
				return 0, io.EOF
			}
			continue
		}
		s.pos += i
		if !s.need(2) {
			return 0, s.endErr("markup")
		}
		switch s.buf[s.pos+1] {
		case '/':
			return tokEnd, s.endTag()
		case '?':
			if err := s.skipPast("?>", "processing instruction"); err != nil {
				return 0, err
			}
		case '!':
			if err := s.skipDecl(nil); err != nil {
				return 0, err
			}
		default:
			return tokStart, s.startTag()
		}
	}
}

// skipPast consumes input up to and including seq.
func (s *scanner) skipPast(seq, what string) error {
	i, err := s.findSeq(2, seq, what)
	if err != nil {
		return err
	}
	s.pos += i + len(seq)
	return nil
}

// skipDecl consumes a comment, CDATA section or DOCTYPE at pos. CDATA
// content is appended to *text when text is not nil.
func (s *scanner) skipDecl(text *[]byte) error {
	switch {
	case s.hasPrefix("<!--"):
		i, err := s.findSeq(4, "-->", "comment")
		if err != nil {
			return err
		}
		s.pos += i + 3
	case s.hasPrefix("<![CDATA["):
		i, err := s.findSeq(9, "]]>", "CDATA section")
		if err != nil {
			return err
		}
		if text != nil {
			*text = append(*text, s.buf[s.pos+9:s.pos+i]...)
		}
		s.pos += i + 3
	case s.hasPrefix("<!DOCTYPE"):
		if len(s.stackLen) > 0 {
			return s.errorf("DOCTYPE inside an element")
		}
		i, err := s.find(9, '>', "DOCTYPE")
		if err != nil {
			return err
		}
		if bytes.IndexByte(s.buf[s.pos:s.pos+i], '[') >= 0 {
			return s.errorf("DOCTYPE with an internal subset is not supported")
		}
		s.pos += i + 1
	default:
		return s.errorf("unknown markup starting with <!")
	}
	return nil
}

// endTag consumes </name> at pos and checks it closes the open element.
func (s *scanner) endTag() error {
	i, err := s.find(2, '>', "end tag")
	if err != nil {
		return err
	}
	name := bytes.TrimRight(s.buf[s.pos+2:s.pos+i], " \t\r\n")
	if len(s.stackLen) == 0 {
		return s.errorf("end tag </%s> without a start tag", name)
	}
	if !bytes.Equal(name, s.top()) {
		return s.errorf("end tag </%s> does not match <%s>", name, s.top())
	}
	s.name = s.top()
	s.pos += i + 1
	s.pop()
	return nil
}

func (s *scanner) top() []byte {
	n := s.stackLen[len(s.stackLen)-1]
	return s.stack[len(s.stack)-n:]
}

func (s *scanner) pop() {
	n := s.stackLen[len(s.stackLen)-1]
	s.stack = s.stack[:len(s.stack)-n]
	s.stackLen = s.stackLen[:len(s.stackLen)-1]
}

// startTag parses <name attr="value" ...> or <name .../> at pos. Tags are
// parsed in place in one pass; a tag cut by the end of the buffer is
// parsed again once more input is in.
func (s *scanner) startTag() error {
	for {
		scanned, err := s.parseStartTag()
		if scanned < 0 {
			return err
		}
		// Read until the buffer holds twice what was scanned, so a long
		// tag arriving in small reads is re-parsed only a few times.
		for s.end-s.pos <= 2*scanned {
			if !s.fill() {
				return s.endErr("start tag")
			}
		}
	}
}

// parseStartTag returns -1 and the outcome when the tag was complete in
// the buffer, or how many bytes it scanned before running out.
func (s *scanner) parseStartTag() (int, error) {
	b, end := s.buf, s.end
	i := s.pos + 1
	for i < end && !isSpace(b[i]) && b[i] != '>' && b[i] != '/' {
		i++
	}
	if i == end {
		return i - s.pos, nil
	}
	name := b[s.pos+1 : i]
	if !validName(name) {
		return -1, s.errorf("bad element name %q", truncate(name))
	}
	s.name = name
	s.attrs = s.attrs[:0]
	s.scratch = s.scratch[:0]
	empty := false
	for {
		for i < end && isSpace(b[i]) {
			i++
		}
		if i == end {
			return i - s.pos, nil
		}
		if b[i] == '>' {
			i++
			break
		}
		if b[i] == '/' {
			if i+1 == end {
				return i - s.pos, nil
			}
			if b[i+1] != '>' {
				return -1, s.errorf("'/' not followed by '>' in <%s>", s.name)
			}
			empty = true
			i += 2
			break
		}
		j := i
		for j < end && b[j] != '=' && !isSpace(b[j]) && b[j] != '>' && b[j] != '/' {
			j++
		}
		an := b[i:j]
		for j < end && isSpace(b[j]) {
			j++
		}
		if j == end {
			return j - s.pos, nil
		}
		if b[j] != '=' {
			return -1, s.errorf("attribute without a value in <%s>", s.name)
		}
		if !validName(an) {
			return -1, s.errorf("bad attribute name %q in <%s>", truncate(an), s.name)
		}
		j++
		for j < end && isSpace(b[j]) {
			j++
		}
		if j == end {
			return j - s.pos, nil
		}
		q := b[j]
		if q != '"' && q != '\'' {
			return -1, s.errorf("attribute %s in <%s> is not quoted", an, s.name)
		}
		k := bytes.IndexByte(b[j+1:end], q)
		if k < 0 {
			return end - s.pos, nil
		}
		val := b[j+1 : j+1+k]
		i = j + 2 + k
		if i < end && !isSpace(b[i]) && b[i] != '>' && b[i] != '/' {
			return -1, s.errorf("missing space after attribute %s in <%s>", an, s.name)
		}
		if needsDecode(val, true) {
			start := len(s.scratch)
			var err error
			s.scratch, err = decodeText(s.scratch, val, true)
			if err != nil {
				return -1, s.errorf("attribute %s in <%s>: %v", an, s.name, err)
			}
			val = s.scratch[start:]
		}
		if len(s.attrs) == maxAttrs {
			return -1, s.errorf("more than %d attributes in <%s>", maxAttrs, s.name)
		}
		s.attrs = append(s.attrs, xmlAttr{an, val})
	}
	if len(s.stackLen) == maxDepth {
		return -1, s.errorf("elements nested deeper than %d", maxDepth)
	}
	s.pos = i
	s.stack = append(s.stack, s.name...)
	s.stackLen = append(s.stackLen, len(s.name))
	s.pendingEnd = empty
	return -1, nil
}

// attr returns the value of the named attribute of the current start tag.
func (s *scanner) attr(name string) ([]byte, bool) {
	for i := range s.attrs {
		if string(s.attrs[i].name) == name {
			return s.attrs[i].value, true
		}
	}
	return nil, false
}

// local is the current element's name without its namespace prefix.
func (s *scanner) local() []byte {
	if i := bytes.IndexByte(s.name, ':'); i >= 0 {
		return s.name[i+1:]
	}
	return s.name
}

// text reads the character content of the element just started, up to and
// including its end tag, and returns it decoded. The element must not
// contain other elements.
func (s *scanner) text() ([]byte, error) {
	if s.pendingEnd {
		s.pendingEnd = false
		s.pop()
		return nil, nil
	}
	var acc []byte
	accumulating := false
	for {
		i, err := s.find(0, '<', "character data")
		if err != nil {
			return nil, err
		}
		if i > s.maxToken {
			return nil, s.errorf("text in <%s> longer than %d bytes", s.top(), s.maxToken)
		}
		if !s.need(i + 2) {
			return nil, s.endErr("character data")
		}
		if s.buf[s.pos+i+1] == '/' {
			raw := s.buf[s.pos : s.pos+i]
			if !accumulating && !needsDecode(raw, false) {
				// Fast path: plain text straight from the buffer. The end
				// tag must be buffered first: reading more would move it.
				j, err := s.find(i+2, '>', "end tag")
				if err != nil {
					return nil, err
				}
				raw = s.buf[s.pos : s.pos+i]
				s.pos += i
				_ = j
				if err := s.endTag(); err != nil {
					return nil, err
				}
				return raw, nil
			}
			s.scratch = s.scratch[:0]
			if accumulating {
				s.scratch = append(s.scratch, acc...)
			}
			s.scratch, err = decodeText(s.scratch, raw, false)
			if err != nil {
				return nil, s.errorf("text in <%s>: %v", s.top(), err)
			}
			s.pos += i
			if err := s.endTag(); err != nil {
				return nil, err
			}
			return s.scratch, nil
		}
		// Text interrupted by a comment or CDATA: collect it piece by piece.
		accumulating = true
		acc, err = decodeText(acc, s.buf[s.pos:s.pos+i], false)
		if err != nil {
			return nil, s.errorf("text in <%s>: %v", s.top(), err)
		}
		s.pos += i
		switch s.buf[s.pos+1] {
		case '!':
			if err := s.skipDecl(&acc); err != nil {
				return nil, err
			}
		case '?':
			if err := s.skipPast("?>", "processing instruction"); err != nil {
				return nil, err
			}
		default:
			return nil, s.errorf("unexpected element inside <%s>", s.top())
		}
		if len(acc) > s.maxToken {
			return nil, s.errorf("text in <%s> longer than %d bytes", s.top(), s.maxToken)
		}
	}
}

// skip consumes the rest of the element just started, children included.
func (s *scanner) skip() error {
	depth := 1
	for depth > 0 {
		k, err := s.next()
		if err != nil {
			if err == io.EOF {
				return s.errorf("unexpected end of input")
			}
			return err
		}
		if k == tokStart {
			depth++
		} else {
			depth--
		}
	}
	return nil
}

func isSpace(c byte) bool { return c <= ' ' && (c == ' ' || c == '\t' || c == '\n' || c == '\r') }

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	return b
}

// validName accepts XML names loosely: no markup characters or quotes.
func validName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c > '?' {
			continue // letters and most of ASCII above the markup characters
		}
		switch c {
		case '<', '>', '&', '"', '\'', '=', '/', '!', '?', ' ', '\t', '\r', '\n':
			return false
		}
	}
	return true
}

func truncate(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// needsDecode reports whether raw text holds entity references, or, in an
// attribute value, whitespace that XML normalises to spaces.
func needsDecode(b []byte, attr bool) bool {
	for _, c := range b {
		// One comparison for the common bytes: letters, most punctuation.
		if c <= '<' && (c == '&' || c == '<' || c == '\r' || (attr && (c == '\n' || c == '\t'))) {
			return true
		}
	}
	return false
}

// decodeText appends raw character data to dst, replacing entity and
// character references and normalising line ends (and, in attribute
// values, whitespace) as an XML processor does.
func decodeText(dst, raw []byte, attr bool) ([]byte, error) {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch c {
		case '<':
			return dst, errors.New("'<' in character data")
		case '\r':
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
			if attr {
				dst = append(dst, ' ')
			} else {
				dst = append(dst, '\n')
			}
		case '\n', '\t':
			if attr {
				dst = append(dst, ' ')
			} else {
				dst = append(dst, c)
			}
		case '&':
			end := bytes.IndexByte(raw[i:], ';')
			if end < 0 || end > 12 {
				return dst, errors.New("unterminated entity reference")
			}
			ref := raw[i+1 : i+end]
			i += end
			switch string(ref) {
			case "amp":
				dst = append(dst, '&')
			case "lt":
				dst = append(dst, '<')
			case "gt":
				dst = append(dst, '>')
			case "quot":
				dst = append(dst, '"')
			case "apos":
				dst = append(dst, '\'')
			default:
				r, ok := charRef(ref)
				if !ok {
					return dst, fmt.Errorf("unknown entity &%s;", ref)
				}
				dst = utf8.AppendRune(dst, r)
			}
		default:
			dst = append(dst, c)
		}
	}
	return dst, nil
}

// charRef decodes the inside of a numeric character reference (#65, #x41).
func charRef(ref []byte) (rune, bool) {
	if len(ref) < 2 || ref[0] != '#' {
		return 0, false
	}
	digits, base := ref[1:], rune(10)
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 {
		return 0, false
	}
	var r rune
	for _, c := range digits {
		var d rune
		switch {
		case c >= '0' && c <= '9':
			d = rune(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			d = rune(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = rune(c-'A') + 10
		default:
			return 0, false
		}
		r = r*base + d
		if r > utf8.MaxRune {
			return 0, false
		}
	}
	// XML 1.0 Char: tab, newline, carriage return, and no surrogates.
	if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || !utf8.ValidRune(r) || r == 0xFFFE || r == 0xFFFF {
		return 0, false
	}
	return r, true
}
