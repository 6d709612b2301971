package dataset

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

func TestWriterRefusesInvalidUTF8(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "responses")
	w, err := Create[Response](dir, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if err := w.Write(Response{Prompt: "p", Response: "fine 中文"}, Response{Prompt: "p", Response: "ok"}); err != nil {
		t.Fatal(err)
	}
	// What a byte-level model writes when its bytes are stored as they are:
	// a character cut short.
	err = w.Write(Response{Prompt: "p", Response: "good"}, Response{ID: "r4", Prompt: "p", Response: "ab\xe4\xb8", Model: "m"})
	if err == nil {
		t.Fatal("invalid UTF-8 in a string column was written")
	}
	for _, want := range []string{dir, "row 4", "r4", `column "response"`, "byte offset 2", "UTF-8"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if w.Rows() != 2 {
		t.Fatalf("%d rows written, want the 2 of the first call only (a refused call writes none)", w.Rows())
	}
	err = w.Write(Response{Prompt: "p", Response: "x", Model: "\xff"})
	if err == nil || !strings.Contains(err.Error(), `column "model"`) || !strings.Contains(err.Error(), "row 3") {
		t.Fatalf("dictionary column: got %v", err)
	}
	// A literal U+FFFD is valid text.
	if err := w.Write(Response{Prompt: "p", Response: "ab\uFFFD"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadAll[Response](dir)
	if err != nil || len(rows) != 3 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
}

// encode returns s in encoding e, as a Chinese tool would write it.
func encode(t *testing.T, e Encoding, s string) []byte {
	t.Helper()
	var enc *encoding.Encoder
	switch e {
	case GBK:
		enc = simplifiedchinese.GBK.NewEncoder()
	case GB18030:
		enc = simplifiedchinese.GB18030.NewEncoder()
	case Big5:
		enc = traditionalchinese.Big5.NewEncoder()
	default:
		return []byte(s)
	}
	b, err := enc.Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encoding %q as %s: %v", s, e, err)
	}
	return b
}

func wantInvalidUTF8(t *testing.T, err error, path string, line int, field string, guess Encoding) {
	t.Helper()
	var ie *InvalidUTF8Error
	if !errors.As(err, &ie) {
		t.Fatalf("want an *InvalidUTF8Error, got %v", err)
	}
	if ie.Path != path || ie.Line != line || ie.Field != field || ie.Guess != guess {
		t.Fatalf("got %+v, want %s:%d field %q guess %q", ie, path, line, field, guess)
	}
	msg := err.Error()
	if !strings.Contains(msg, fmt.Sprintf("%s:%d: invalid UTF-8", path, line)) || !strings.Contains(msg, "byte offset") {
		t.Fatalf("message %q does not name file, line and offset", msg)
	}
	if guess != "" && !strings.Contains(msg, "Encoding "+string(guess)) {
		t.Fatalf("message %q does not suggest --encoding %s", msg, guess)
	}
}

const zhPrompt, zhResponse = "请把这句话翻译成英文：今天天气很好。", "The weather is nice today."

// TestJSONLReaderRefusesOrDecodesGBK: a GBK file given to Open is an error
// naming the file, line and field, not U+FFFD mojibake; with the encoding
// in the options it reads as the original text, plain or gzipped.
func TestJSONLReaderRefusesOrDecodesGBK(t *testing.T) {
	dir := t.TempDir()
	text := "{\"prompt\":\"hello\",\"response\":\"hi\"}\n" +
		"{\"task\":\"rewrite\",\"prompt\":\"" + zhPrompt + "\",\"response\":\"" + zhResponse + "\"}\n"
	plain := filepath.Join(dir, "gbk.jsonl")
	os.WriteFile(plain, encode(t, GBK, text), 0o644)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(encode(t, GBK, text))
	zw.Close()
	zipped := filepath.Join(dir, "gbk.jsonl.gz")
	os.WriteFile(zipped, buf.Bytes(), 0o644)
	for _, p := range []string{plain, zipped} {
		_, err := ReadAll[SFT](p)
		wantInvalidUTF8(t, err, p, 2, "prompt", GBK)
		if !strings.Contains(err.Error(), `in field "prompt"`) {
			t.Fatalf("%v", err)
		}
		// The error stops the reader: the rest is not read as mojibake.
		r, err := Open[SFT](p)
		if err != nil {
			t.Fatal(err)
		}
		if row, err := r.Next(); err != nil || row.Prompt != "hello" {
			t.Fatalf("first line: %+v %v", row, err)
		}
		if _, err := r.Next(); !IsInvalidUTF8(err) {
			t.Fatalf("second line: %v", err)
		}
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("after the error: %v, want EOF", err)
		}
		r.Close()

		rows, err := ReadAllWith[SFT](ReaderOptions{Encoding: GBK}, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 2 || rows[1].Prompt != zhPrompt || rows[1].Response != zhResponse || rows[1].Task != "rewrite" {
			t.Fatalf("decoded rows %+v", rows)
		}
	}
	if _, err := OpenWith[SFT](ReaderOptions{Encoding: "latin-1"}, plain); err == nil || !strings.Contains(err.Error(), "gbk, gb18030, big5") {
		t.Fatalf("unknown encoding: %v", err)
	}
}

func TestJSONLReaderBig5AndGB18030(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		enc  Encoding
		text string
	}{
		{Big5, "我們今天學習中文，這個問題的答案是什麼？"},
		{GB18030, "表情符号😀不在GBK里，𠀀也不在。"},
	} {
		p := filepath.Join(dir, string(c.enc)+".jsonl")
		os.WriteFile(p, encode(t, c.enc, "{\"prompt\":\""+c.text+"\"}\n"), 0o644)
		_, err := ReadAll[Prompt](p)
		wantInvalidUTF8(t, err, p, 1, "prompt", c.enc)
		rows, err := ReadAllWith[Prompt](ReaderOptions{Encoding: c.enc}, p)
		if err != nil || len(rows) != 1 || rows[0].Prompt != c.text {
			t.Fatalf("%s: %+v %v", c.enc, rows, err)
		}
	}
}

func TestEachLineChecksUTF8(t *testing.T) {
	p := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(p, []byte("{\"a\":\"ok\"}\n\n  {\"a\":\"x\",\"b\":{\"c\":[\"fine\",\"caf\xe9\"]}}\n"), 0o644)
	n := 0
	err := EachLine(p, func(int, []byte) error { n++; return nil })
	wantInvalidUTF8(t, err, p, 3, "b.c[1]", "")
	if ie := err.(*InvalidUTF8Error); ie.Offset != 32 || n != 1 {
		t.Fatalf("offset %d (want 32, counted from the line's first byte), %d lines before", ie.Offset, n)
	}
	if !strings.Contains(err.Error(), "convert it to UTF-8") {
		t.Fatalf("%v", err)
	}
	// Not JSON: no field, still file, line and offset.
	os.WriteFile(p, []byte("plain\ntext \xff\xfe here\n"), 0o644)
	err = EachLine(p, func(int, []byte) error { return nil })
	wantInvalidUTF8(t, err, p, 2, "", "")
}

func TestJSONFieldAt(t *testing.T) {
	doc := []byte(`{"id": 3, "responses": ["a", "bX"], "translation": {"en": "x", "zh": "yX"}, "kX": 1}`)
	for _, c := range []struct {
		at   string
		want string
	}{{`"bX"`, "responses[1]"}, {`"yX"`, "translation.zh"}, {`"kX"`, "kX"}, {`: 3`, ""}} {
		off := bytes.Index(doc, []byte(c.at)) + 2 // inside the string, or the number
		if got := jsonFieldAt(doc, off); got != c.want {
			t.Errorf("field at %s: %q, want %q", c.at, got, c.want)
		}
	}
	if got := jsonFieldAt([]byte(`[{"a": "x"}, {"b": "y"}]`), 20); got != "[1].b" {
		t.Errorf("array of objects: %q", got)
	}
}

// TestOpenTextAsStreams: the streaming check (used by JSON-array, CSV and
// BIO readers) finds the line and offset of the first ill-formed byte
// whatever the read sizes, delivers the text before it, and decodes other
// encodings.
func TestOpenTextAsStreams(t *testing.T) {
	text := "第一行 line one\n第二行，好的\n" + strings.Repeat("长", 30000) + "\nbad: "
	raw := append([]byte(text), encode(t, GBK, "中文")...)
	raw = append(raw, "\nafter\n"...)
	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"whole": func(r io.Reader) io.Reader { return r },
		"1byte": iotest.OneByteReader,
		"half":  iotest.HalfReader,
	} {
		c := newUTF8Checker(wrap(bytes.NewReader(raw)), "f.txt")
		got, err := io.ReadAll(c)
		wantInvalidUTF8(t, err, "f.txt", 4, "", GBK)
		if ie := err.(*InvalidUTF8Error); ie.Offset != 5 || string(got) != text {
			t.Fatalf("%s: offset %d, delivered %d bytes of %d", name, ie.Offset, len(got), len(text))
		}
		// A valid text passes whole.
		c = newUTF8Checker(wrap(strings.NewReader(text)), "f.txt")
		if got, err := io.ReadAll(c); err != nil || string(got) != text {
			t.Fatalf("%s: valid text: %v", name, err)
		}
	}
	// Far into a long line.
	long := append([]byte("x\n"+strings.Repeat("a", 10000)), encode(t, GBK, "中文 text")...)
	_, err := io.ReadAll(newUTF8Checker(iotest.HalfReader(bytes.NewReader(long)), "f.txt"))
	wantInvalidUTF8(t, err, "f.txt", 2, "", GBK)
	if off := err.(*InvalidUTF8Error).Offset; off != 10000 {
		t.Fatalf("offset %d, want 10000", off)
	}
	// A character cut short by the end of the file.
	c := newUTF8Checker(strings.NewReader("ok\n中"[:4]), "f.txt")
	_, err = io.ReadAll(c)
	wantInvalidUTF8(t, err, "f.txt", 2, "", "")

	p := filepath.Join(t.TempDir(), "big5.csv")
	os.WriteFile(p, encode(t, Big5, "text,label\n這個問題,1\n"), 0o644)
	in, err := OpenTextAs(p, Big5)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(in)
	in.Close()
	if err != nil || string(got) != "text,label\n這個問題,1\n" {
		t.Fatalf("big5 decode: %q %v", got, err)
	}
	in, _ = OpenTextAs(p, UTF8)
	_, err = io.ReadAll(in)
	in.Close()
	wantInvalidUTF8(t, err, p, 2, "", Big5)
}

func TestParseEncoding(t *testing.T) {
	for in, want := range map[string]Encoding{"": UTF8, "UTF-8": UTF8, "utf8": UTF8, "GBK": GBK, "cp936": GBK, "gb18030": GB18030, "Big5": Big5} {
		if got, err := ParseEncoding(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	if _, err := ParseEncoding("latin1"); err == nil || !strings.Contains(err.Error(), "utf-8, gbk, gb18030, big5") {
		t.Errorf("latin1: %v", err)
	}
}
