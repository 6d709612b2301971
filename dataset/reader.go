package dataset

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// ReaderOptions tune Open.
type ReaderOptions struct {
	// SkipChecksums skips the SHA-256 check of shards against the manifest
	// (it costs one extra sequential read of every shard). Default false.
	SkipChecksums bool
}

// source is one input: a shard of a dataset, a lone Parquet file, or JSONL.
type source struct {
	path   string
	sha256 string // expected, "" when unknown
	jsonl  bool
}

// Reader streams the records of one or more datasets in order: datasets in
// the order given, shards in manifest order, rows in file order.
type Reader[T Record] struct {
	opts    ReaderOptions
	sources []source
	rows    int64 // known total, -1 when a JSONL source is involved
	next    int   // next source index

	// current source
	cur      source
	file     *os.File
	pr       *parquet.GenericReader[T]
	buf      []T
	bufPos   int
	jl       *bufio.Reader
	text     io.ReadCloser
	line     int
	rowInSrc int64
}

// Open resolves paths into sources and checks every manifest up front. A
// path is a dataset directory, a glob matching dataset directories or files,
// a single .parquet file, or a .jsonl / .jsonl.gz / .json file with the
// record's field names (a missing id is filled from content).
func Open[T Record](paths ...string) (*Reader[T], error) {
	return OpenWith[T](ReaderOptions{}, paths...)
}

// OpenWith is Open with options.
func OpenWith[T Record](opts ReaderOptions, paths ...string) (*Reader[T], error) {
	if len(paths) == 0 {
		return nil, errors.New("no dataset given")
	}
	r := &Reader[T]{opts: opts}
	for _, p := range paths {
		if err := r.addPath(p, true); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *Reader[T]) addPath(p string, expand bool) error {
	if expand && strings.ContainsAny(p, "*?[") {
		matches, err := filepath.Glob(p)
		if err != nil {
			return fmt.Errorf("bad glob %q: %w", p, err)
		}
		if len(matches) == 0 {
			return fmt.Errorf("%s: no files or datasets match", p)
		}
		sort.Strings(matches)
		for _, m := range matches {
			if err := r.addPath(m, false); err != nil {
				return err
			}
		}
		return nil
	}
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("dataset %s: %w", p, err)
	}
	if !st.IsDir() {
		switch {
		case isJSONL(p):
			r.sources = append(r.sources, source{path: p, jsonl: true})
			r.rows = -1
		case strings.HasSuffix(p, ".parquet"):
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			pf, err := openParquetFile[T](p, f, st.Size(), "")
			if err != nil {
				return err
			}
			r.sources = append(r.sources, source{path: p})
			if r.rows >= 0 {
				r.rows += pf.NumRows()
			}
		default:
			return fmt.Errorf("%s: not a dataset directory, .parquet or .jsonl file", p)
		}
		return nil
	}
	m, err := ReadManifest(p)
	if err != nil {
		if errors.Is(err, ErrIncomplete) {
			if splits := splitNames(p); len(splits) > 0 {
				return fmt.Errorf("%s has no %s but holds the splits %s: pass one of them (e.g. %s)",
					p, ManifestName, strings.Join(splits, ", "), filepath.Join(p, splits[0]))
			}
		}
		return err
	}
	if want := KindOf[T](); m.Kind != want {
		return fmt.Errorf("dataset %s holds %q records, expected %q", p, m.Kind, want)
	}
	for _, s := range m.Shards {
		r.sources = append(r.sources, source{path: filepath.Join(p, s.File), sha256: s.SHA256})
	}
	if r.rows >= 0 {
		r.rows += m.Rows
	}
	return nil
}

// splitNames lists the subdirectories of dir that are complete datasets.
func splitNames(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		if e.IsDir() && IsComplete(filepath.Join(dir, e.Name())) {
			out = append(out, e.Name())
		}
	}
	return out
}

// Splits resolves a dataset argument that is either one dataset or a folder
// of split datasets (train/, val/, ...). It returns the train datasets (the
// folder itself, or its "train" split) and the "val" split when present.
func Splits(dir string) (train []string, val []string, err error) {
	if IsComplete(dir) {
		return []string{dir}, nil, nil
	}
	t := filepath.Join(dir, "train")
	if !IsComplete(t) {
		_, err := ReadManifest(dir)
		return nil, nil, err
	}
	if v := filepath.Join(dir, "val"); IsComplete(v) {
		val = []string{v}
	}
	return []string{t}, val, nil
}

func isJSONL(p string) bool {
	for _, s := range []string{".jsonl", ".jsonl.gz", ".json", ".ndjson"} {
		if strings.HasSuffix(p, s) {
			return true
		}
	}
	return false
}

// Rows is the total number of rows, known from the manifests; -1 when a
// JSONL input is involved.
func (r *Reader[T]) Rows() int64 { return r.rows }

// Position names the current file and row, for error messages.
func (r *Reader[T]) Position() string {
	if r.cur.jsonl {
		return fmt.Sprintf("%s:%d", r.cur.path, r.line)
	}
	return fmt.Sprintf("%s row %d", r.cur.path, r.rowInSrc)
}

// Next returns the next record, or io.EOF after the last one.
func (r *Reader[T]) Next() (T, error) {
	var zero T
	for {
		if r.pr != nil {
			if r.bufPos < len(r.buf) {
				row := r.buf[r.bufPos]
				r.bufPos++
				r.rowInSrc++
				return row, nil
			}
			r.buf = r.buf[:cap(r.buf)]
			n, err := r.pr.Read(r.buf)
			r.buf, r.bufPos = r.buf[:n], 0
			if n > 0 {
				continue
			}
			if err != nil && err != io.EOF {
				return zero, fmt.Errorf("%s: %w", r.Position(), err)
			}
			r.closeCurrent()
			continue
		}
		if r.jl != nil {
			row, err := r.nextJSONL()
			if err == io.EOF {
				r.closeCurrent()
				continue
			}
			return row, err
		}
		if r.next >= len(r.sources) {
			return zero, io.EOF
		}
		if err := r.openSource(r.sources[r.next]); err != nil {
			return zero, err
		}
		r.next++
	}
}

func (r *Reader[T]) openSource(s source) error {
	r.cur, r.line, r.rowInSrc = s, 0, 0
	f, err := os.Open(s.path)
	if err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("%s: shard listed in the manifest is missing", s.path)
		}
		return err
	}
	if s.jsonl {
		f.Close()
		in, err := OpenText(s.path)
		if err != nil {
			return err
		}
		r.text = in
		r.jl = bufio.NewReaderSize(in, 1<<20)
		return nil
	}
	r.file = f
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if s.sha256 != "" && !r.opts.SkipChecksums {
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return fmt.Errorf("%s: %w", s.path, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != s.sha256 {
			f.Close()
			return fmt.Errorf("%s: checksum mismatch (manifest says sha256 %s, file has %s): the shard was changed or damaged after it was written", s.path, s.sha256, got)
		}
	}
	pf, err := openParquetFile[T](s.path, f, st.Size(), "")
	if err != nil {
		f.Close()
		return err
	}
	r.pr = parquet.NewGenericReader[T](pf)
	if r.buf == nil {
		r.buf = make([]T, 0, 1024)
	}
	r.buf, r.bufPos = r.buf[:0], 0
	return nil
}

func (r *Reader[T]) nextJSONL() (T, error) {
	var zero T
	for {
		line, err := r.jl.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			if err == io.EOF {
				return zero, io.EOF
			}
			return zero, fmt.Errorf("%s: %w", r.cur.path, err)
		}
		r.line++
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var row T
		if err := json.Unmarshal(line, &row); err != nil {
			return zero, fmt.Errorf("%s:%d: not a valid %s record: %w", r.cur.path, r.line, KindOf[T](), err)
		}
		r.rowInSrc++
		return WithID(row), nil
	}
}

func (r *Reader[T]) closeCurrent() {
	if r.pr != nil {
		r.pr.Close()
		r.pr = nil
	}
	if r.text != nil {
		r.text.Close()
		r.text = nil
	}
	r.jl = nil
	if r.file != nil {
		r.file.Close()
		r.file = nil
	}
}

// Close releases the open file.
func (r *Reader[T]) Close() error {
	r.closeCurrent()
	r.next = len(r.sources)
	return nil
}

// ReadAll loads every record of the given datasets into memory.
func ReadAll[T Record](paths ...string) ([]T, error) {
	return ReadAllWith[T](ReaderOptions{}, paths...)
}

// openParquetFile opens a Parquet file and checks its schema against T.
func openParquetFile[T Record](path string, f io.ReaderAt, size int64, _ string) (*parquet.File, error) {
	pf, err := parquet.OpenFile(f, size)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable Parquet file (truncated or damaged?): %w", path, err)
	}
	if k, ok := pf.Lookup("rlhf.kind"); ok && k != string(KindOf[T]()) {
		return nil, fmt.Errorf("%s: shard holds %q records, expected %q", path, k, KindOf[T]())
	}
	if err := checkSchema[T](path, pf.Schema()); err != nil {
		return nil, err
	}
	return pf, nil
}

func openParquet[T Record](path string, raw []byte) (*parquet.File, error) {
	return openParquetFile[T](path, bytes.NewReader(raw), int64(len(raw)), "")
}

// checkSchema verifies that every column of T is in the file with the same
// type. Extra columns are allowed; an optional column where T has a required
// one is accepted (nulls read as zero values), as pandas writes strings.
func checkSchema[T Record](path string, got *parquet.Schema) error {
	want := parquet.SchemaOf(new(T))
	for _, wf := range want.Fields() {
		var gf parquet.Field
		for _, f := range got.Fields() {
			if f.Name() == wf.Name() {
				gf = f
				break
			}
		}
		if gf == nil {
			return fmt.Errorf("%s: missing column %q (a %s dataset needs %s)", path, wf.Name(), KindOf[T](), columnNames(want))
		}
		if typeName(gf) != typeName(wf) {
			return fmt.Errorf("%s: column %q has type %s, expected %s", path, wf.Name(), typeName(gf), typeName(wf))
		}
	}
	return nil
}

func typeName(f parquet.Field) string {
	t := f.Type()
	if lt := t.LogicalType(); lt != nil {
		s := lt.String()
		if strings.HasPrefix(s, "TIMESTAMP") {
			return "TIMESTAMP"
		}
		return s
	}
	return t.Kind().String()
}

func columnNames(s *parquet.Schema) string {
	var names []string
	for _, f := range s.Fields() {
		names = append(names, f.Name())
	}
	return strings.Join(names, ", ")
}

// ReadAllWith is ReadAll with options.
func ReadAllWith[T Record](opts ReaderOptions, paths ...string) ([]T, error) {
	r, err := OpenWith[T](opts, paths...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []T
	for {
		row, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, row)
	}
}
