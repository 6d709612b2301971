package prompts

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/option"
)

// Example is what an adapter yields for one input record: the tasks it
// natively serves, its language when the adapter knows it, and named fields
// with canonical names (see docs/build-prompts.md). List-valued fields hold
// their items separated by ListSep.
type Example struct {
	// Tasks are the native tasks, e.g. closed_qa and extract for SQuAD.
	Tasks []string
	// Lang is "zh" or "en" when the adapter knows it; "" to detect it.
	Lang string
	// Fields are the canonical fields (question, answer, document, ...).
	Fields map[string]string
	// Pos is file:line (or file: item N) of the record, for messages.
	Pos string
}

// ListSep separates the items of a list-valued field (entities, options,
// dialogue turns, ideas).
const ListSep = "\x1f"

// adapterFunc reads one source and calls emit for every Example and bad for
// every record it cannot use (reported with its position and counted).
type adapterFunc func(s *Source, emit func(Example) error, bad func(pos string, err error)) error

// adapters maps the adapter names of --source to their readers.
var adapters = map[string]adapterFunc{
	"squad":          readSquad,
	"dureader":       readDureader,
	"summarization":  readSummarization,
	"classification": readClassification,
	"cluener":        readCluener,
	"bio":            readBIO,
	"pairs":          readPairs,
	"dialogue":       readDialogue,
	"instruction":    readInstruction,
	"chat":           readChat,
	"qa":             readQA,
}

// AdapterNames lists the adapters, sorted.
func AdapterNames() []string {
	var out []string
	for k := range adapters {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// errMalformed wraps the reason a record was rejected.
var errMalformed = errors.New("malformed record")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, args...))
}

// record is one row of a JSONL, JSON-array, CSV or TSV input: decoded JSON
// values, or strings for tabular files.
type record map[string]any

// str returns the first non-empty of the given columns as a string. A
// column may be a dotted path into nested objects ("translation.zh").
// Numbers and booleans are formatted; lists of strings are joined by ListSep.
func (r record) str(cols ...string) string {
	for _, c := range cols {
		if s := toString(r.get(c)); s != "" {
			return s
		}
	}
	return ""
}

func (r record) get(col string) any {
	var cur any = map[string]any(r)
	for _, part := range strings.Split(col, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

func toString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case []any:
		var parts []string
		for _, e := range x {
			if s := toString(e); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, ListSep)
	}
	return ""
}

// inputFormat is the format= option, or guessed from the file name.
func inputFormat(s *Source, path string) string {
	if f := s.Opts["format"]; f != "" {
		return f
	}
	p := strings.TrimSuffix(strings.ToLower(path), ".gz")
	switch {
	case strings.HasSuffix(p, ".csv"):
		return "csv"
	case strings.HasSuffix(p, ".tsv"), strings.HasSuffix(p, ".tab"):
		return "tsv"
	case strings.HasSuffix(p, ".json"):
		return "json"
	}
	return "jsonl"
}

// eachRecord calls fn for every record of every file of the source, in any
// of the row formats: jsonl (one object per line), json (a top-level array of
// objects, streamed, or a single object per line when the file is really
// JSONL), csv and tsv with a header row. Undecodable rows go to bad.
func eachRecord(s *Source, fn func(pos string, r record) error, bad func(pos string, err error)) error {
	files, err := s.files()
	if err != nil {
		return err
	}
	for _, p := range files {
		var err error
		switch inputFormat(s, p) {
		case "csv":
			err = eachCSV(p, s.Encoding, ',', fn, bad)
		case "tsv":
			err = eachCSV(p, s.Encoding, '\t', fn, bad)
		case "json":
			err = eachJSON(p, s.Encoding, fn, bad)
		case "jsonl":
			err = eachJSONL(p, s.Encoding, fn, bad)
		default:
			return option.Errorf("{Sources} %q: format=%q: want jsonl, json, csv or tsv", s.Spec, s.Opts["format"])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func eachJSONL(path string, enc dataset.Encoding, fn func(pos string, r record) error, bad func(pos string, err error)) error {
	return eachLineOf(path, enc, func(pos string, line []byte) error {
		var r record
		if err := json.Unmarshal(line, &r); err != nil {
			bad(pos, malformed("not a JSON object: %v", err))
			return nil
		}
		return fn(pos, r)
	})
}

// eachJSON streams a JSON file holding an array of objects (Alpaca style).
// A file whose first value is an object is read as JSONL instead.
func eachJSON(path string, enc dataset.Encoding, fn func(pos string, r record) error, bad func(pos string, err error)) error {
	in, err := dataset.OpenTextAs(path, enc)
	if err != nil {
		return err
	}
	defer in.Close()
	br := newPeekReader(in)
	first, err := br.firstByte()
	if dataset.IsInvalidUTF8(err) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%s: empty file", path)
	}
	if first != '[' {
		in.Close()
		return eachJSONL(path, enc, fn, bad)
	}
	dec := json.NewDecoder(br)
	if _, err := dec.Token(); err != nil {
		if dataset.IsInvalidUTF8(err) {
			return err
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	for i := 1; dec.More(); i++ {
		pos := fmt.Sprintf("%s: item %d", path, i)
		var r record
		if err := dec.Decode(&r); err != nil {
			if dataset.IsInvalidUTF8(err) {
				return err
			}
			// A syntax error leaves the decoder unusable: report and stop.
			bad(pos, malformed("not a JSON object: %v", err))
			return nil
		}
		if err := fn(pos, r); err != nil {
			return err
		}
	}
	return nil
}

func eachCSV(path string, enc dataset.Encoding, sep rune, fn func(pos string, r record) error, bad func(pos string, err error)) error {
	in, err := dataset.OpenTextAs(path, enc)
	if err != nil {
		return err
	}
	defer in.Close()
	cr := csv.NewReader(in)
	cr.Comma = sep
	cr.LazyQuotes = sep == '\t'
	cr.ReuseRecord = true
	first, err := cr.Read()
	if dataset.IsInvalidUTF8(err) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%s:1: cannot read the header row: %w", path, err)
	}
	header := slices.Clone(first) // ReuseRecord: the next Read overwrites first
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	cr.FieldsPerRecord = len(header)
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if dataset.IsInvalidUTF8(err) {
			return err
		}
		line, _ := cr.FieldPos(0)
		pos := fmt.Sprintf("%s:%d", path, line)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad(fmt.Sprintf("%s:%d", path, pe.StartLine), malformed("%v (want %d columns: %s)", pe.Err, len(header), strings.Join(header, ",")))
				continue
			}
			return fmt.Errorf("%s: %w", pos, err)
		}
		r := make(record, len(header))
		for i, h := range header {
			r[h] = row[i]
		}
		if err := fn(pos, r); err != nil {
			return err
		}
	}
}

// peekReader lets eachJSON look at the first non-space byte.
type peekReader struct{ *bufio.Reader }

func newPeekReader(r io.Reader) peekReader { return peekReader{bufio.NewReaderSize(r, 1<<16)} }

func (p peekReader) firstByte() (byte, error) {
	for i := 1; ; i++ {
		b, err := p.Peek(i)
		if err != nil {
			return 0, err
		}
		if c := b[i-1]; !bytes.ContainsRune([]byte(" \t\r\n\ufeff"), rune(c)) && c != 0xef && c != 0xbb && c != 0xbf {
			return c, nil
		}
	}
}
