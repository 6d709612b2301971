package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/rlhf-project/rlhf/atomicfile"
)

// WriterOptions tune a Writer. The zero value gives the defaults.
type WriterOptions struct {
	// RowsPerShard is the number of rows per part-NNNNN.parquet file.
	// Default 100,000.
	RowsPerShard int64
	// RowGroupRows is the number of rows buffered in memory before they are
	// flushed as one Parquet row group; it bounds the writer's memory.
	// Default 10,000.
	RowGroupRows int64
	// Append keeps the complete shards already in the directory (with or
	// without a manifest: every part-*.parquet is published only once
	// complete) and adds new shards after them; the manifest is rewritten
	// at Close. Without Append, the dataset is written into a temporary
	// sibling directory that replaces DIR only at Close, so the previous
	// content stays readable until the new one is complete.
	Append bool
	// Meta is copied into the manifest.
	Meta map[string]string
	// Command is the command line recorded in the manifest; default os.Args.
	Command []string
}

// Writer streams records of type T into a dataset directory.
type Writer[T Record] struct {
	final, dir string
	opts       WriterOptions
	shards     []ShardInfo
	cur        *atomicfile.File
	curHash    *hashCounter
	pw         *parquet.GenericWriter[T]
	curRows    int64
	total      int64
	closed     bool

	// Row groups are encoded and compressed in parallel goroutines (this is
	// where the time goes) and committed to the file in order.
	schema   *parquet.Schema
	pending  []T
	inflight []inflightGroup
}

type inflightGroup struct {
	rg   *parquet.ConcurrentRowGroupWriter
	done chan error
}

// Create starts writing a dataset of kind T into dir.
func Create[T Record](dir string, opts WriterOptions) (*Writer[T], error) {
	if opts.RowsPerShard <= 0 {
		opts.RowsPerShard = 100_000
	}
	if opts.RowGroupRows <= 0 {
		opts.RowGroupRows = 10_000
	}
	if opts.Command == nil {
		opts.Command = os.Args
	}
	w := &Writer[T]{final: dir, opts: opts, schema: parquet.SchemaOf(new(T))}
	if opts.Append {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create dataset %s: %w", dir, err)
		}
		shards, err := existingShards[T](dir)
		if err != nil {
			return nil, err
		}
		w.shards = shards
		for _, s := range shards {
			w.total += s.Rows
		}
		// The manifest goes until Close so a reader never sees a dataset
		// that claims to be complete while it grows.
		if err := os.Remove(filepath.Join(dir, ManifestName)); err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("dataset %s: %w", dir, err)
		}
		w.dir = dir
		return w, nil
	}
	tmp, err := atomicfile.TempDirFor(dir)
	if err != nil {
		return nil, err
	}
	w.dir = tmp
	return w, nil
}

// existingShards lists and checks the complete shards of an append target.
func existingShards[T Record](dir string) ([]ShardInfo, error) {
	if m, err := ReadManifest(dir); err == nil {
		if m.Kind != KindOf[T]() {
			return nil, fmt.Errorf("dataset %s: holds %q records, cannot append %q", dir, m.Kind, KindOf[T]())
		}
	}
	names, err := filepath.Glob(filepath.Join(dir, "part-*.parquet"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var shards []ShardInfo
	for _, name := range names {
		info, err := describeShard[T](name)
		if err != nil {
			return nil, err
		}
		shards = append(shards, info)
	}
	return shards, nil
}

func describeShard[T Record](path string) (ShardInfo, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return ShardInfo{}, err
	}
	f, err := openParquet[T](path, raw)
	if err != nil {
		return ShardInfo{}, err
	}
	sum := sha256.Sum256(raw)
	return ShardInfo{File: filepath.Base(path), Rows: f.NumRows(), Bytes: int64(len(raw)), SHA256: hex.EncodeToString(sum[:])}, nil
}

// Write appends rows, filling empty ids from content.
func (w *Writer[T]) Write(rows ...T) error {
	if w.closed {
		return fmt.Errorf("dataset %s: write after close", w.final)
	}
	for len(rows) > 0 {
		if w.pw == nil {
			if err := w.openShard(); err != nil {
				return err
			}
		}
		n := min(int64(len(rows)), w.opts.RowsPerShard-w.curRows, w.opts.RowGroupRows-int64(len(w.pending)))
		for _, r := range rows[:n] {
			w.pending = append(w.pending, WithID(r))
		}
		if int64(len(w.pending)) >= w.opts.RowGroupRows {
			if err := w.startGroup(); err != nil {
				return err
			}
		}
		w.curRows += n
		w.total += n
		rows = rows[n:]
		if w.curRows >= w.opts.RowsPerShard {
			if err := w.closeShard(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Rows returns the number of rows written so far (including kept shards in
// append mode).
func (w *Writer[T]) Rows() int64 { return w.total }

// Dir returns the directory the dataset will be published under.
func (w *Writer[T]) Dir() string { return w.final }

func (w *Writer[T]) openShard() error {
	name := filepath.Join(w.dir, fmt.Sprintf("part-%05d.parquet", len(w.shards)))
	f, err := atomicfile.Create(name)
	if err != nil {
		return err
	}
	w.cur = f
	w.curHash = &hashCounter{w: f, h: sha256.New()}
	w.pw = parquet.NewGenericWriter[T](w.curHash,
		parquet.Compression(writerCodec),
		parquet.MaxRowsPerRowGroup(w.opts.RowGroupRows),
		parquet.CreatedBy("rlhf", "", ""),
		parquet.KeyValueMetadata("rlhf.kind", string(KindOf[T]())),
	)
	w.curRows = 0
	return nil
}

// Flush publishes the rows written so far as a complete shard (append mode
// uses this to make progress durable); the next Write starts a new shard.
func (w *Writer[T]) Flush() error {
	if w.pw == nil || w.curRows == 0 {
		return nil
	}
	return w.closeShard()
}

// startGroup hands the pending rows to a goroutine that encodes them as one
// row group; at most GOMAXPROCS groups are in flight, and they are committed
// in order.
func (w *Writer[T]) startGroup() error {
	if len(w.pending) == 0 {
		return nil
	}
	rows := w.pending
	w.pending = make([]T, 0, w.opts.RowGroupRows)
	g := inflightGroup{rg: w.pw.BeginRowGroup(), done: make(chan error, 1)}
	go func() {
		var err error
		if fields, ok := bindColumns[T](w.schema); ok {
			err = encodeRowGroup(g.rg, rows, fields)
		} else {
			prows := make([]parquet.Row, len(rows))
			for i := range rows {
				prows[i] = w.schema.Deconstruct(nil, &rows[i])
			}
			_, err = g.rg.WriteRows(prows)
		}
		if err == nil {
			err = g.rg.Flush()
		}
		g.done <- err
	}()
	w.inflight = append(w.inflight, g)
	for len(w.inflight) > runtime.GOMAXPROCS(0) {
		if err := w.commitOldest(); err != nil {
			return err
		}
	}
	return nil
}

func (w *Writer[T]) commitOldest() error {
	g := w.inflight[0]
	w.inflight = w.inflight[1:]
	if err := <-g.done; err != nil {
		return fmt.Errorf("dataset %s: encode row group: %w", w.final, err)
	}
	if _, err := g.rg.Commit(); err != nil {
		return fmt.Errorf("dataset %s: write row group: %w", w.final, err)
	}
	return nil
}

// drain encodes the pending rows and commits every group in flight.
func (w *Writer[T]) drain() error {
	if err := w.startGroup(); err != nil {
		return err
	}
	var first error
	for len(w.inflight) > 0 {
		if err := w.commitOldest(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (w *Writer[T]) closeShard() error {
	if err := w.drain(); err != nil {
		w.cur.Abort()
		return err
	}
	if err := w.pw.Close(); err != nil {
		w.cur.Abort()
		return fmt.Errorf("dataset %s: finish shard: %w", w.final, err)
	}
	name := filepath.Base(w.cur.Name())
	name = strings.TrimSuffix(strings.TrimPrefix(name, "."), ".tmp")
	name = name[:strings.LastIndex(name, ".parquet")+len(".parquet")]
	if err := w.cur.Commit(); err != nil {
		return err
	}
	w.shards = append(w.shards, ShardInfo{File: name, Rows: w.curRows, Bytes: w.curHash.n, SHA256: hex.EncodeToString(w.curHash.h.Sum(nil))})
	w.pw, w.cur, w.curHash, w.curRows = nil, nil, nil, 0
	return nil
}

// Close finishes the last shard, writes the manifest and publishes the
// dataset. An empty dataset (no rows) is valid and has no shards.
func (w *Writer[T]) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if w.pw != nil {
		if err := w.closeShard(); err != nil {
			w.abortFiles()
			return err
		}
	}
	m := &Manifest{
		Kind: KindOf[T](), SchemaVersion: SchemaVersion, Rows: w.total, Shards: w.shards,
		Command: w.opts.Command, Producer: Producer, CreatedAt: time.Now().UTC(), Meta: w.opts.Meta,
	}
	if m.Shards == nil {
		m.Shards = []ShardInfo{}
	}
	if err := WriteManifest(w.dir, m); err != nil {
		w.abortFiles()
		return err
	}
	if w.dir != w.final {
		return atomicfile.ReplaceDir(w.dir, w.final)
	}
	return nil
}

// Abort drops everything written by this writer that is not yet published:
// the temporary directory, or in append mode the shard in progress (shards
// already flushed stay, and a rerun in append mode picks them up). It is a
// no-op after Close, so `defer w.Abort()` is safe.
func (w *Writer[T]) Abort() {
	if w.closed {
		return
	}
	w.closed = true
	w.abortFiles()
}

func (w *Writer[T]) abortFiles() {
	for _, g := range w.inflight {
		<-g.done
	}
	w.inflight = nil
	if w.cur != nil {
		w.cur.Abort()
	}
	if w.dir != w.final {
		os.RemoveAll(w.dir)
	}
}

// hashCounter hashes and counts the bytes written through it.
type hashCounter struct {
	w io.Writer
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int64
}

func (c *hashCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}
