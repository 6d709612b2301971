package dataset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"

	"github.com/rlhf-project/rlhf/option"
)

// Encoding is the character encoding of a text input (JSONL, JSON, CSV,
// TSV). Text inputs are UTF-8 unless told otherwise; the others are
// decoded to UTF-8 as they are read (ill-formed sequences become U+FFFD).
// Parquet strings are always UTF-8.
type Encoding string

// The encodings a text input may be in. The zero value means UTF8.
const (
	UTF8    Encoding = "utf-8"
	GBK     Encoding = "gbk"
	GB18030 Encoding = "gb18030"
	Big5    Encoding = "big5"
)

// Encodings lists the valid encoding names.
var Encodings = []Encoding{UTF8, GBK, GB18030, Big5}

// ParseEncoding reads an encoding name: utf-8 (or utf8, or empty), gbk
// (also cp936), gb18030 or big5, in any case.
func ParseEncoding(s string) (Encoding, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "utf-8", "utf8":
		return UTF8, nil
	case "gbk", "cp936":
		return GBK, nil
	case "gb18030":
		return GB18030, nil
	case "big5", "big-5", "cp950":
		return Big5, nil
	}
	names := make([]string, len(Encodings))
	for i, e := range Encodings {
		names[i] = string(e)
	}
	return "", fmt.Errorf("unknown encoding %q: want one of %s", s, strings.Join(names, ", "))
}

// decoder returns the decoder to UTF-8 of e, nil for UTF-8.
func (e Encoding) decoder() (*encoding.Decoder, error) {
	switch e {
	case "", UTF8:
		return nil, nil
	case GBK:
		return simplifiedchinese.GBK.NewDecoder(), nil
	case GB18030:
		return simplifiedchinese.GB18030.NewDecoder(), nil
	case Big5:
		return traditionalchinese.Big5.NewDecoder(), nil
	}
	_, err := ParseEncoding(string(e))
	return nil, err
}

// InvalidUTF8Error reports a text input that is not valid UTF-8 (and was
// not declared to be in another encoding): it names the file, the line,
// the JSON field when the line is a JSON document, the byte offset of the
// first ill-formed byte in the line, and the encoding the line reads as,
// when one of Encodings fits.
type InvalidUTF8Error struct {
	Path   string
	Line   int      // 1-based
	Field  string   // JSON field (dotted path, [i] for array items); "" when unknown
	Offset int      // 0-based byte offset of the first ill-formed byte in the line
	Guess  Encoding // an encoding the line decodes in without error; "" when none
}

func (e *InvalidUTF8Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d: invalid UTF-8", e.Path, e.Line)
	if e.Field != "" {
		fmt.Fprintf(&b, " in field %q", e.Field)
	}
	fmt.Fprintf(&b, " (byte offset %d)", e.Offset)
	b.WriteString("; ")
	b.WriteString(e.advice().Error())
	return b.String()
}

// Unwrap returns the advice, an error naming the Encoding option of the
// command's options (so that a command names its flag; see package option).
func (e *InvalidUTF8Error) Unwrap() error { return e.advice() }

func (e *InvalidUTF8Error) advice() error {
	if e.Guess != "" {
		return option.Errorf("the file looks like %s: set {Encoding} %s", strings.ToUpper(string(e.Guess)), e.Guess)
	}
	return option.Errorf("the file is not UTF-8 (nor GBK, GB18030 or Big5): convert it to UTF-8")
}

// CheckUTF8Line returns nil when line (line number n of path) is valid
// UTF-8, else an *InvalidUTF8Error describing it.
func CheckUTF8Line(path string, n int, line []byte) error {
	if utf8.Valid(line) {
		return nil
	}
	off := firstInvalidUTF8Bytes(line)
	return &InvalidUTF8Error{Path: path, Line: n, Offset: off, Field: jsonFieldAt(line, off), Guess: GuessEncoding(line)}
}

// IsInvalidUTF8 reports whether err is or wraps an *InvalidUTF8Error.
func IsInvalidUTF8(err error) bool {
	var e *InvalidUTF8Error
	return errors.As(err, &e)
}

// jsonFieldAt names the field of the JSON document text whose key or
// string value holds byte off: a dotted path of keys, with [i] for array
// items ("responses[1]", "translation.zh"). "" when text is not JSON or
// off lies elsewhere.
func jsonFieldAt(text []byte, off int) string {
	type frame struct {
		object bool
		key    string // object: the current key
		index  int    // array: the index of the next item
		inKey  bool   // object: the next token is a key
	}
	var stack []frame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			if f.object {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			} else {
				b.WriteString("[" + strconv.Itoa(f.index-1) + "]")
			}
		}
		return b.String()
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		end := int(dec.InputOffset())
		if d, ok := tok.(json.Delim); ok {
			if d == '}' || d == ']' {
				stack = stack[:len(stack)-1]
				continue
			}
			if n := len(stack); n > 0 {
				if stack[n-1].object {
					stack[n-1].inKey = true
				} else {
					stack[n-1].index++
				}
			}
			stack = append(stack, frame{object: d == '{', inKey: d == '{'})
			continue
		}
		top := len(stack) - 1
		if top < 0 {
			return ""
		}
		if stack[top].object && stack[top].inKey {
			stack[top].key, stack[top].inKey = tok.(string), false
		} else if stack[top].object {
			stack[top].inKey = true
		} else {
			stack[top].index++
		}
		if end > off {
			if _, isString := tok.(string); isString {
				return path()
			}
			return ""
		}
	}
}

// GuessEncoding returns the encoding among GBK, GB18030 and Big5 that
// decodes b without an ill-formed sequence and gives the most ASCII, Han
// and CJK punctuation characters (GBK first on ties, as the most common;
// GB18030, which decodes everything GBK does, only when GBK fails), or ""
// when none fits (or b is valid UTF-8).
func GuessEncoding(b []byte) Encoding {
	if utf8.Valid(b) {
		return ""
	}
	had := bytes.Count(b, []byte("\uFFFD"))
	best, bestScore := Encoding(""), -1
	for _, e := range []Encoding{GBK, GB18030, Big5} {
		dec, _ := e.decoder()
		out, err := dec.Bytes(b)
		if err != nil || bytes.Count(out, []byte("\uFFFD")) > had {
			continue
		}
		score := 0
		for _, r := range string(out) {
			if r < utf8.RuneSelf || unicode.Is(unicode.Han, r) || (r >= 0x3000 && r <= 0x303f) || (r >= 0xff00 && r <= 0xffef) {
				score++
			}
		}
		if score > bestScore {
			best, bestScore = e, score
		}
	}
	return best
}

// utf8Checker passes UTF-8 text through and fails, at the first ill-formed
// byte, with an *InvalidUTF8Error naming the line and byte offset (the
// field is unknown: the text is streamed, not split in lines). The bytes
// before it are delivered first.
type utf8Checker struct {
	r          io.Reader
	path       string
	buf        []byte // read ahead: buf[start:end] is not delivered yet,
	start, end int    // and buf[start:start+checked] is valid UTF-8
	checked    int
	rerr       error  // the error of the last read of r
	err        error  // the ill-formed byte, once found
	line, col  int    // line (1-based) and byte offset of the next byte delivered
	lineBuf    []byte // the current line so far, up to 4 KiB (to guess its encoding)
}

func newUTF8Checker(r io.Reader, path string) *utf8Checker {
	return &utf8Checker{r: r, path: path, line: 1, buf: make([]byte, 64<<10)}
}

func (c *utf8Checker) Read(p []byte) (int, error) {
	for c.checked == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if rest := c.buf[c.start:c.end]; len(rest) > 0 {
			if utf8.Valid(rest) {
				c.checked = len(rest)
				break
			}
			if c.checked = firstInvalidUTF8Bytes(rest); c.checked > 0 {
				break
			}
			// rest starts with an ill-formed character, or one cut short
			// that more bytes may complete.
			if c.rerr != nil || utf8.FullRune(rest) {
				c.err = c.invalid(rest)
				return 0, c.err
			}
		}
		if c.rerr != nil {
			return 0, c.rerr
		}
		if c.start > 0 {
			c.end = copy(c.buf, c.buf[c.start:c.end])
			c.start = 0
		}
		n, err := c.r.Read(c.buf[c.end:])
		c.end += n
		c.rerr = err
	}
	n := copy(p, c.buf[c.start:c.start+c.checked])
	c.advance(c.buf[c.start : c.start+n])
	c.start += n
	c.checked -= n
	return n, nil
}

// maxSample is how much of a line, at most, GuessEncoding is given.
const maxSample = 4096

// advance moves the line and offset past delivered bytes, keeping the end
// of the current line in lineBuf.
func (c *utf8Checker) advance(b []byte) {
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		c.line += bytes.Count(b[:i+1], []byte{'\n'})
		c.col = 0
		c.lineBuf = c.lineBuf[:0]
		b = b[i+1:]
	}
	c.col += len(b)
	if len(b) >= maxSample {
		c.lineBuf = append(c.lineBuf[:0], b[len(b)-maxSample:]...)
		return
	}
	if extra := len(c.lineBuf) + len(b) - maxSample; extra > 0 {
		c.lineBuf = c.lineBuf[:copy(c.lineBuf, c.lineBuf[extra:])]
	}
	c.lineBuf = append(c.lineBuf, b...)
}

// invalid describes the ill-formed byte at the start of rest, the bytes
// not yet delivered.
func (c *utf8Checker) invalid(rest []byte) error {
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		rest = rest[:i]
	}
	sample := append(append([]byte(nil), c.lineBuf...), rest...)
	return &InvalidUTF8Error{Path: c.path, Line: c.line, Offset: c.col, Guess: GuessEncoding(sample)}
}

// OpenTextAs opens a text input like OpenText and returns it as UTF-8: a
// file in another encoding is decoded (ill-formed sequences become
// U+FFFD); a UTF-8 file is checked as it is read, and the first ill-formed
// byte is an *InvalidUTF8Error naming the file, line and byte offset (the
// bytes before it are delivered first).
func OpenTextAs(path string, enc Encoding) (io.ReadCloser, error) {
	dec, err := enc.decoder()
	if err != nil {
		return nil, err
	}
	in, err := OpenText(path)
	if err != nil {
		return nil, err
	}
	if dec != nil {
		return textFile{dec.Reader(in), in.Close}, nil
	}
	return textFile{newUTF8Checker(in, path), in.Close}, nil
}
