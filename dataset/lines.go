package dataset

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
)

// OpenText opens a text input (JSONL, CSV, ...) for reading, decompressing
// gzip transparently: it is detected by its magic bytes, whatever the file
// name says.
func OpenText(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, 1<<20)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: bad gzip data: %w", path, err)
		}
		return textFile{gz, func() error { gz.Close(); return f.Close() }}, nil
	}
	return textFile{br, f.Close}, nil
}

type textFile struct {
	io.Reader
	close func() error
}

func (t textFile) Close() error { return t.close() }

// EachLine calls fn for every non-blank line of a (possibly gzipped) UTF-8
// text file, trimmed of surrounding white space, with its 1-based line
// number. Lines may be of any length. An error from fn stops the walk and
// is returned as is; read errors name the file and line, and a line that
// is not valid UTF-8 is an *InvalidUTF8Error (see EachLineAs to read other
// encodings).
func EachLine(path string, fn func(line int, text []byte) error) error {
	return EachLineAs(path, UTF8, fn)
}

// EachLineAs is EachLine for a file in encoding enc: a UTF-8 file is
// checked line by line (an ill-formed line is an *InvalidUTF8Error naming
// the file, line, JSON field and byte offset); a file in another encoding
// is decoded to UTF-8 first.
func EachLineAs(path string, enc Encoding, fn func(line int, text []byte) error) error {
	dec, err := enc.decoder()
	if err != nil {
		return err
	}
	in, err := OpenText(path)
	if err != nil {
		return err
	}
	defer in.Close()
	var r io.Reader = in
	if dec != nil {
		r = dec.Reader(in)
	}
	rd := bufio.NewReaderSize(r, 1<<16)
	for n := 1; ; n++ {
		b, err := rd.ReadBytes('\n')
		if len(b) == 0 && err == io.EOF {
			return nil
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if dec == nil {
			if err := CheckUTF8Line(path, n, b); err != nil {
				return err
			}
		}
		if t := bytes.TrimSpace(b); len(t) > 0 {
			if ferr := fn(n, t); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}
