package dataset

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/parquet-go/parquet-go"
)

// ReaderOptions tune Open.
type ReaderOptions struct {
	// SkipChecksums skips the SHA-256 check of shards against the manifest
	// (it costs one extra sequential read of every shard). Default false.
	SkipChecksums bool
	// Encoding is the character encoding of JSONL inputs: UTF-8 (the
	// default; a line that is not valid UTF-8 is an error naming the file,
	// line and field, which stops the reader), or GBK, GB18030 or Big5,
	// decoded to UTF-8. Parquet strings are UTF-8 whatever it says.
	Encoding Encoding
}

// source is one input: a shard of a dataset, a lone Parquet file, or JSONL.
type source struct {
	path   string
	sha256 string // expected, "" when unknown
	jsonl  bool
	// hub: a lone Parquet file in one of the row formats of the hub (hub.go),
	// read row by row like JSONL.
	hub bool
}

// Reader streams the records of one or more datasets in order: datasets in
// the order given, shards in manifest order, rows in file order. Row groups
// are decoded ahead by up to GOMAXPROCS goroutines (decompression is the
// cost of reading) and handed over in order; memory stays bounded (see
// start).
type Reader[T Record] struct {
	opts    ReaderOptions
	sources []source
	rows    int64 // known total, -1 when a JSONL source is involved

	started bool
	stop    chan struct{}      // closed by Close: workers give up
	queue   chan chan batch[T] // one channel per unit of work, in order
	cur     chan batch[T]      // the unit being consumed
	b       batch[T]
	pos     int
	src     source
	row     int64 // 1-based row of the last record in its Parquet file
	line    int   // line of the last row consumed (JSONL)
	done    bool
}

// batch is a run of consecutive rows of one source, or its error.
type batch[T Record] struct {
	rows  []T
	lines []int // JSONL: the line of each row (of the bad line with err)
	row0  int64 // Parquet: the number of rows of the file before this batch
	src   source
	err   error
	// skippable errors (a malformed JSONL line) let Next go on after them.
	skippable bool
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
	if _, err := opts.Encoding.decoder(); err != nil {
		return nil, err
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
				hf, ok := hubParquet[T](f, st.Size())
				if !ok {
					return err
				}
				pf = hf
			}
			r.sources = append(r.sources, source{path: p, hub: err != nil})
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
			if e := notADataset(p); e != nil {
				return e
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

// Position names the file and row (or JSONL line) of the record Next
// returned last, for error messages.
func (r *Reader[T]) Position() string {
	if r.src.jsonl {
		return fmt.Sprintf("%s:%d", r.src.path, r.line)
	}
	if r.src.hub {
		return fmt.Sprintf("%s row %d", r.src.path, r.line)
	}
	return fmt.Sprintf("%s row %d", r.src.path, r.row)
}

// Next returns the next record, or io.EOF after the last one.
func (r *Reader[T]) Next() (T, error) {
	var zero T
	if !r.started {
		r.start()
	}
	for {
		if r.pos < len(r.b.rows) {
			row := r.b.rows[r.pos]
			if r.b.lines != nil {
				r.line = r.b.lines[r.pos]
			}
			r.pos++
			r.row = r.b.row0 + int64(r.pos)
			return row, nil
		}
		if r.done {
			return zero, io.EOF
		}
		if r.cur == nil {
			next, ok := <-r.queue
			if !ok {
				r.done = true
				return zero, io.EOF
			}
			r.cur = next
		}
		b, ok := <-r.cur
		if !ok {
			r.cur = nil
			continue
		}
		r.b, r.pos, r.src = b, 0, b.src
		if b.err != nil {
			if b.skippable {
				r.line = b.lines[0]
				r.b = batch[T]{}
				return zero, b.err
			}
			r.done = true
			r.stopWorkers()
			return zero, b.err
		}
	}
}

// start launches the dispatcher. It cuts the sources into units of work
// (a row group of a Parquet file, a whole JSONL file), in order, and starts
// a goroutine per unit, at most GOMAXPROCS at a time; each unit hands its
// rows over through its own channel, and the channels are queued in order.
// The queue holds GOMAXPROCS units, so about GOMAXPROCS+1 decoded row
// groups are in memory, however many shards there are. A shard's checksum
// is checked before any of its row groups is started, so no row of a
// damaged shard is ever returned.
func (r *Reader[T]) start() {
	r.started = true
	r.stop = make(chan struct{})
	workers := max(1, runtime.GOMAXPROCS(0))
	r.queue = make(chan chan batch[T], workers)
	slots := make(chan struct{}, workers)
	go func() {
		defer close(r.queue)
		// unit queues a unit and runs produce in its own goroutine once a
		// slot is free; false when the reader was closed. produce may call
		// release once its work is done and only handing over remains, so
		// that the next unit can start (the queue bounds the memory).
		unit := func(src source, produce func(send func(batch[T]) bool, release func()) error) bool {
			select {
			case slots <- struct{}{}:
			case <-r.stop:
				return false
			}
			out := make(chan batch[T], 4)
			select {
			case r.queue <- out:
			case <-r.stop:
				<-slots
				return false
			}
			go func() {
				var once sync.Once
				release := func() { once.Do(func() { <-slots }) }
				defer release()
				defer close(out)
				send := func(b batch[T]) bool {
					b.src = src
					select {
					case out <- b:
						return true
					case <-r.stop:
						return false
					}
				}
				if err := produce(send, release); err != nil {
					send(batch[T]{err: err})
				}
			}()
			return true
		}
		fail := func(src source, err error) {
			unit(src, func(func(batch[T]) bool, func()) error { return err })
		}
		// Shards are opened and checked ahead, in their own goroutine, so
		// hashing the next shard overlaps decoding this one. Shards opened
		// but never dispatched (the reader was closed, or failed) are
		// closed when the dispatcher returns.
		type opened struct {
			sh  *shard[T]
			err error
		}
		next := make(chan chan opened, 1)
		quit := make(chan struct{})
		defer func() {
			close(quit)
			for c := range next {
				if o := <-c; o.sh != nil {
					o.sh.file.Close()
				}
			}
		}()
		go func() {
			defer close(next)
			for _, src := range r.sources {
				c := make(chan opened, 1)
				select {
				case next <- c:
				case <-quit:
					return
				}
				if src.jsonl || src.hub {
					c <- opened{}
					continue
				}
				sh, err := openShard[T](src, r.opts)
				c <- opened{sh, err}
			}
		}()
		for _, src := range r.sources {
			o := <-<-next
			if src.jsonl || src.hub {
				read := func(send func(batch[T]) bool, _ func()) error { return readJSONL(src.path, r.opts.Encoding, send) }
				if src.hub {
					read = func(send func(batch[T]) bool, _ func()) error { return readHubParquet(src.path, send) }
				}
				if !unit(src, read) {
					return
				}
				continue
			}
			sh, err := o.sh, o.err
			if err != nil {
				fail(src, err)
				return
			}
			var row0 int64
			stopped := false
			for i, rg := range sh.groups {
				first := row0
				sh.users.Add(1)
				if !unit(src, func(send func(batch[T]) bool, release func()) error {
					defer sh.users.Done()
					return sh.readGroup(i, rg, first, send, release)
				}) {
					sh.users.Done()
					stopped = true
					break
				}
				row0 += rg.NumRows()
			}
			go func() {
				sh.users.Wait()
				sh.file.Close()
			}()
			if stopped {
				return
			}
		}
	}()
}

// readBatch is the number of rows a worker hands over at a time.
const readBatch = 1024

// shard is an open Parquet file whose checksum, kind and schema were
// checked.
type shard[T Record] struct {
	path     string
	file     *os.File
	groups   []parquet.RowGroup
	fields   []columnField // the column-wise layout (columns.go)
	columnar bool
	users    sync.WaitGroup // row groups being read; the file closes after
}

// openShard opens a Parquet shard and checks its checksum (when the
// manifest gives one), kind and schema.
func openShard[T Record](s source, opts ReaderOptions) (*shard[T], error) {
	f, err := os.Open(s.path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%s: shard listed in the manifest is missing", s.path)
		}
		return nil, err
	}
	sh, err := checkShard[T](s, opts, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return sh, nil
}

func checkShard[T Record](s source, opts ReaderOptions, f *os.File) (*shard[T], error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if s.sha256 != "" && !opts.SkipChecksums {
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return nil, fmt.Errorf("%s: %w", s.path, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != s.sha256 {
			return nil, fmt.Errorf("%s: checksum mismatch (manifest says sha256 %s, file has %s): the shard was changed or damaged after it was written", s.path, s.sha256, got)
		}
	}
	pf, err := openParquetFile[T](s.path, f, st.Size(), "")
	if err != nil {
		return nil, err
	}
	sh := &shard[T]{path: s.path, file: f, groups: pf.RowGroups()}
	sh.fields, sh.columnar = bindColumns[T](pf.Schema())
	return sh, nil
}

// readGroup decodes row group i, whose first row is row first of the file,
// and hands its rows on in batches.
func (sh *shard[T]) readGroup(i int, rg parquet.RowGroup, first int64, send func(batch[T]) bool, release func()) error {
	rows, err := sh.decodeGroup(rg)
	release()
	if err != nil {
		return fmt.Errorf("%s row group %d (rows %d and on): %w", sh.path, i, first+1, err)
	}
	for lo := 0; lo < len(rows); lo += readBatch {
		if !send(batch[T]{rows: rows[lo:min(lo+readBatch, len(rows))], row0: first + int64(lo)}) {
			return nil
		}
	}
	return nil
}

func (sh *shard[T]) decodeGroup(rg parquet.RowGroup) ([]T, error) {
	if sh.columnar {
		return decodeRowGroup[T](rg, sh.fields)
	}
	rows := make([]T, rg.NumRows())
	pr := parquet.NewGenericRowGroupReader[T](rg)
	defer pr.Close()
	n := 0
	for n < len(rows) {
		k, err := pr.Read(rows[n:])
		n += k
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return rows[:n], nil
}

// readJSONL streams the records of a JSONL file in encoding enc; a
// malformed line is an error naming the file and line, after which Next may
// go on with the next line (callers that skip bad lines do; ReadAll stops).
// A line that is not valid UTF-8 stops the reader: the whole file is most
// likely in another encoding, and skipping it line by line would silently
// drop it.
func readJSONL[T Record](path string, enc Encoding, send func(batch[T]) bool) error {
	r := rowBatcher[T]{send: send}
	return r.finish(EachLineAs(path, enc, func(line int, text []byte) error {
		return r.add(fmt.Sprintf("%s:%d", path, line), line, text, nil)
	}))
}

// rowBatcher decodes JSON rows of kind T into batches for a reader: a row
// that does not decode is sent alone as a skippable error naming its
// position (after the rows before it), so Next may go on after it.
type rowBatcher[T Record] struct {
	send func(batch[T]) bool
	b    batch[T]
}

// add decodes text (the row at pos, line n), or reports err, the row's
// read error.
func (r *rowBatcher[T]) add(pos string, n int, text []byte, err error) error {
	var row T
	if err == nil {
		err = decodeJSONL(text, &row)
	}
	if err != nil {
		if r.b.rows != nil && !r.send(r.b) {
			return errStopped
		}
		r.b = batch[T]{}
		if fe := (formatError{}); errors.As(err, &fe) {
			err = fmt.Errorf("%s: %w", pos, err)
		} else {
			err = fmt.Errorf("%s: not a valid %s record: %w", pos, KindOf[T](), err)
		}
		if !r.send(batch[T]{err: err, lines: []int{n}, skippable: true}) {
			return errStopped
		}
		return nil
	}
	r.b.rows = append(r.b.rows, WithID(row))
	r.b.lines = append(r.b.lines, n)
	if len(r.b.rows) == readBatch {
		if !r.send(r.b) {
			return errStopped
		}
		r.b = batch[T]{}
	}
	return nil
}

// finish sends the last batch; err is the error that ended the rows.
func (r *rowBatcher[T]) finish(err error) error {
	if err == errStopped {
		return nil
	}
	if r.b.rows != nil && !r.send(r.b) {
		return nil
	}
	return err
}

var errStopped = errors.New("reader closed")

func (r *Reader[T]) stopWorkers() {
	if r.stop != nil {
		select {
		case <-r.stop:
		default:
			close(r.stop)
		}
	}
}

// Close stops the workers and releases their files.
func (r *Reader[T]) Close() error {
	r.done = true
	r.b = batch[T]{}
	r.stopWorkers()
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
// one is accepted (nulls read as zero values), as pandas writes strings. A
// column tagged rlhf:"missing-ok" may be absent (files written before it
// was added).
func checkSchema[T Record](path string, got *parquet.Schema) error {
	want := parquet.SchemaOf(new(T))
	missingOK := missingOKColumns[T]()
	for _, wf := range want.Fields() {
		var gf parquet.Field
		for _, f := range got.Fields() {
			if f.Name() == wf.Name() {
				gf = f
				break
			}
		}
		if gf == nil && missingOK[wf.Name()] {
			continue
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

// Each calls fn for every remaining record, in order, until the end (nil),
// an error of the reader or of fn, or the cancellation of ctx.
func (r *Reader[T]) Each(ctx context.Context, fn func(T) error) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		row, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(row); err != nil {
			return err
		}
	}
}
