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
	"github.com/rlhf-project/rlhf/version"
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
//
// Row groups are encoded and compressed in parallel goroutines (this is
// where the time goes), at most GOMAXPROCS at a time, and committed to
// their shard in order. A full shard does not stop the pipeline: the next
// shard's row groups start while the last ones of the previous shard are
// still encoding, and a shard's fsync and rename run in the background.
type Writer[T Record] struct {
	final, dir string
	opts       WriterOptions
	shards     []ShardInfo // published or being published, in order
	parts      int         // shard files started so far (names part-NNNNN)
	cur        *shardFile[T]
	total      int64
	closed     bool

	schema   *parquet.Schema
	pending  []T
	inflight []inflightGroup[T] // in commit order
	groups   int                // entries of inflight that encode a row group
	spare    [][]T              // row buffers of committed groups, for reuse

	// commit is the previous shard's fsync and rename; nil when none is
	// pending.
	commit chan error
	// created is what was missing of the final path and its parents when
	// the writer started, so that an abort removes the parent folders it
	// created for its temporary directory.
	created atomicfile.Created
}

// shardFile is a shard being written.
type shardFile[T Record] struct {
	file *atomicfile.File
	hash *hashCounter
	pw   *parquet.GenericWriter[T]
	rows int64 // rows handed to the shard so far
}

// inflightGroup is a row group being encoded for a shard or, with rg nil,
// the end of that shard.
type inflightGroup[T Record] struct {
	rg    *parquet.ConcurrentRowGroupWriter
	rows  []T
	done  chan error
	shard *shardFile[T]
}

// Create starts writing a dataset of kind T into dir. Without Append it
// refuses a dir that is not missing, an empty folder or a dataset of the
// same kind (see CheckOutput), and nothing appears at dir until Close; an
// Abort removes the parent folders it created. With Append it refuses a
// file or a dataset of another kind.
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
		if err := checkAppendTarget[T](dir); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create dataset %s: %w", dir, err)
		}
		shards, err := existingShards[T](dir)
		if err != nil {
			return nil, err
		}
		w.shards, w.parts = shards, len(shards)
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
	if err := CheckOutput[T](dir); err != nil {
		return nil, err
	}
	w.created = atomicfile.Track(dir)
	tmp, err := atomicfile.TempDirFor(dir)
	if err != nil {
		w.created.RemoveEmptyParents()
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

// Write appends rows, filling empty ids from content. A row with a string
// column that is not valid UTF-8 is refused (with its row number and
// column) and none of rows is written.
func (w *Writer[T]) Write(rows ...T) error {
	if w.closed {
		return fmt.Errorf("dataset %s: write after close", w.final)
	}
	if err := checkRowsUTF8(w.final, w.total+1, rows); err != nil {
		return err
	}
	for len(rows) > 0 {
		if w.cur == nil {
			if err := w.openShard(); err != nil {
				return err
			}
		}
		n := min(int64(len(rows)), w.opts.RowsPerShard-w.cur.rows, w.opts.RowGroupRows-int64(len(w.pending)))
		for _, r := range rows[:n] {
			w.pending = append(w.pending, WithID(r))
		}
		w.cur.rows += n
		w.total += n
		rows = rows[n:]
		if int64(len(w.pending)) >= w.opts.RowGroupRows {
			if err := w.startGroup(); err != nil {
				return err
			}
		}
		if w.cur.rows >= w.opts.RowsPerShard {
			if err := w.endShard(); err != nil {
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
	name := filepath.Join(w.dir, fmt.Sprintf("part-%05d.parquet", w.parts))
	f, err := atomicfile.Create(name)
	if err != nil {
		return err
	}
	w.parts++
	sf := &shardFile[T]{file: f, hash: &hashCounter{w: f, h: sha256.New()}}
	options := []parquet.WriterOption{
		parquet.Compression(writerCodec),
		parquet.MaxRowsPerRowGroup(w.opts.RowGroupRows),
		parquet.CreatedBy("rlhf", "", ""),
		parquet.KeyValueMetadata("rlhf.kind", string(KindOf[T]())),
	}
	for _, col := range textColumns[T]() {
		options = append(options, parquet.SkipPageBounds(col...), parquet.SkipPageStatistics(col...))
	}
	sf.pw = parquet.NewGenericWriter[T](sf.hash, options...)
	w.cur = sf
	return nil
}

// Flush publishes the rows written so far as a complete shard (append mode
// uses this to make progress durable); the next Write starts a new shard.
func (w *Writer[T]) Flush() error {
	if w.cur != nil {
		if err := w.endShard(); err != nil {
			return err
		}
	}
	if err := w.commitAll(); err != nil {
		return err
	}
	return w.waitCommit()
}

// startGroup hands the pending rows to a goroutine that encodes them as one
// row group of the current shard.
func (w *Writer[T]) startGroup() error {
	if len(w.pending) == 0 {
		return nil
	}
	rows := w.pending
	if n := len(w.spare); n > 0 {
		w.pending, w.spare = w.spare[n-1], w.spare[:n-1]
	} else {
		w.pending = make([]T, 0, w.opts.RowGroupRows)
	}
	g := inflightGroup[T]{rg: w.cur.pw.BeginRowGroup(), rows: rows, done: make(chan error, 1), shard: w.cur}
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
	w.groups++
	for w.groups > runtime.GOMAXPROCS(0) {
		if err := w.commitOldest(); err != nil {
			return err
		}
	}
	return nil
}

// endShard starts the last row group of the current shard and queues its
// end after it; the next Write opens a new shard.
func (w *Writer[T]) endShard() error {
	if err := w.startGroup(); err != nil {
		return err
	}
	w.inflight = append(w.inflight, inflightGroup[T]{shard: w.cur})
	w.cur = nil
	return nil
}

// commitOldest commits the oldest row group in flight to its shard, or
// finishes the shard whose end is oldest.
func (w *Writer[T]) commitOldest() error {
	g := w.inflight[0]
	w.inflight = w.inflight[1:]
	if g.rg == nil {
		return w.finishShard(g.shard)
	}
	w.groups--
	if err := <-g.done; err != nil {
		return fmt.Errorf("dataset %s: encode row group: %w", w.final, err)
	}
	w.spare = append(w.spare, g.rows[:0])
	if _, err := g.rg.Commit(); err != nil {
		return fmt.Errorf("dataset %s: write row group: %w", w.final, err)
	}
	return nil
}

// commitAll commits everything in flight.
func (w *Writer[T]) commitAll() error {
	for len(w.inflight) > 0 {
		if err := w.commitOldest(); err != nil {
			return err
		}
	}
	return nil
}

// finishShard writes the footer of a shard whose row groups are all
// committed and starts its fsync and rename in the background.
func (w *Writer[T]) finishShard(sf *shardFile[T]) error {
	if err := sf.pw.Close(); err != nil {
		return fmt.Errorf("dataset %s: finish shard: %w", w.final, err)
	}
	if err := w.waitCommit(); err != nil {
		return err
	}
	name := filepath.Base(sf.file.Name())
	name = strings.TrimSuffix(strings.TrimPrefix(name, "."), ".tmp")
	name = name[:strings.LastIndex(name, ".parquet")+len(".parquet")]
	done := make(chan error, 1)
	go func() { done <- sf.file.Commit() }()
	w.commit = done
	w.shards = append(w.shards, ShardInfo{File: name, Rows: sf.rows, Bytes: sf.hash.n, SHA256: hex.EncodeToString(sf.hash.h.Sum(nil))})
	return nil
}

// Close finishes the last shard, writes the manifest and publishes the
// dataset. An empty dataset (no rows) is valid and has no shards.
func (w *Writer[T]) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.Flush(); err != nil {
		w.abortFiles()
		return err
	}
	m := &Manifest{
		Kind: KindOf[T](), SchemaVersion: SchemaVersion, Rows: w.total, Shards: w.shards,
		Command: w.opts.Command, Producer: version.Producer(), CreatedAt: time.Now().UTC(), Meta: w.opts.Meta,
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
		if g.rg != nil {
			<-g.done
		} else {
			g.shard.file.Abort()
		}
	}
	w.inflight = nil
	w.waitCommit()
	if w.cur != nil {
		w.cur.file.Abort()
	}
	if w.dir != w.final {
		os.RemoveAll(w.dir)
		w.created.RemoveEmptyParents()
	}
}

// waitCommit waits for the previous shard's commit and returns its error.
func (w *Writer[T]) waitCommit() error {
	if w.commit == nil {
		return nil
	}
	err := <-w.commit
	w.commit = nil
	return err
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
