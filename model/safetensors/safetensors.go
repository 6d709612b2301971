// Package safetensors reads and writes Hugging Face safetensors files: one
// file (model.safetensors) or shards (model-00001-of-0000N.safetensors) listed
// by model.safetensors.index.json.
//
// A file is an 8-byte little-endian header length, a JSON header mapping each
// tensor name to {"dtype","shape","data_offsets"} (plus an optional
// "__metadata__" map of strings), then the raw little-endian tensor bytes.
// Tensors are kept as raw bytes in their stored dtype (Tensor.Data), so a
// read → write round trip is bit-exact; Float32 and FromFloat32 convert.
//
// Written here rather than taken from a library because no maintained Go
// package covers sharded reading and writing with f16/bf16; the format is a
// page long.
package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DType names a tensor element type as spelled in safetensors headers.
type DType string

// Supported element types.
const (
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
	I64  DType = "I64"
	I32  DType = "I32"
	U8   DType = "U8"
	BOOL DType = "BOOL"
)

// Size is the number of bytes of one element, or 0 for an unknown dtype.
func (d DType) Size() int {
	switch d {
	case F32, I32:
		return 4
	case F16, BF16:
		return 2
	case I64:
		return 8
	case U8, BOOL:
		return 1
	}
	return 0
}

// Tensor is one named tensor in its stored form.
type Tensor struct {
	DType DType
	Shape []int
	Data  []byte // little-endian, len = Size(DType) * product(Shape)
}

// NumElements is the product of the shape (1 for a scalar).
func (t Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Float32 decodes F32, F16 or BF16 data to float32 (exactly: both half types
// are subsets of float32).
func (t Tensor) Float32() ([]float32, error) {
	n := t.NumElements()
	if len(t.Data) != n*t.DType.Size() {
		return nil, fmt.Errorf("tensor of dtype %s and shape %v has %d bytes", t.DType, t.Shape, len(t.Data))
	}
	out := make([]float32, n)
	switch t.DType {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
		}
	case BF16:
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(t.Data[2*i:])) << 16)
		}
	case F16:
		for i := range out {
			out[i] = f16ToF32(binary.LittleEndian.Uint16(t.Data[2*i:]))
		}
	default:
		return nil, fmt.Errorf("dtype %s is not a float type", t.DType)
	}
	return out, nil
}

// FromFloat32 encodes values in dtype (F32, F16 or BF16; half types round to
// nearest even).
func FromFloat32(dtype DType, shape []int, values []float32) (Tensor, error) {
	t := Tensor{DType: dtype, Shape: append([]int(nil), shape...)}
	if t.NumElements() != len(values) {
		return t, fmt.Errorf("shape %v wants %d values, got %d", shape, t.NumElements(), len(values))
	}
	t.Data = make([]byte, len(values)*dtype.Size())
	switch dtype {
	case F32:
		for i, v := range values {
			binary.LittleEndian.PutUint32(t.Data[4*i:], math.Float32bits(v))
		}
	case BF16:
		for i, v := range values {
			binary.LittleEndian.PutUint16(t.Data[2*i:], f32ToBF16(v))
		}
	case F16:
		for i, v := range values {
			binary.LittleEndian.PutUint16(t.Data[2*i:], f32ToF16(v))
		}
	default:
		return t, fmt.Errorf("dtype %s is not a float type", dtype)
	}
	return t, nil
}

type headerEntry struct {
	DType       DType    `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// maxHeader bounds the JSON header so a corrupt length cannot allocate
// gigabytes (real headers are well under 10 MB).
const maxHeader = 100 << 20

// Info is what a safetensors header says of one tensor: its dtype and
// shape (no data).
type Info struct {
	DType DType
	Shape []int
}

// NumElements is the product of the shape.
func (i Info) NumElements() int { return Tensor{Shape: i.Shape}.NumElements() }

// header is a parsed and checked safetensors header.
type header struct {
	entries   map[string]headerEntry
	meta      map[string]string
	dataStart int64
}

// readHeader reads and checks the header of an open safetensors file: every
// dtype is known and every tensor's data fits the file.
func readHeader(f *os.File, path string) (*header, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var lenBuf [8]byte
	if _, err := io.ReadFull(f, lenBuf[:]); err != nil {
		return nil, fmt.Errorf("%s: not a safetensors file: %w", path, err)
	}
	hlen := binary.LittleEndian.Uint64(lenBuf[:])
	if hlen > maxHeader || int64(hlen)+8 > st.Size() {
		return nil, fmt.Errorf("%s: not a safetensors file (header length %d, file size %d)", path, hlen, st.Size())
	}
	hbuf := make([]byte, hlen)
	if _, err := io.ReadFull(f, hbuf); err != nil {
		return nil, fmt.Errorf("%s: reading header: %w", path, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hbuf, &raw); err != nil {
		return nil, fmt.Errorf("%s: header is not JSON: %w", path, err)
	}
	h := &header{entries: make(map[string]headerEntry, len(raw)), dataStart: int64(8 + hlen)}
	dataLen := st.Size() - h.dataStart
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &h.meta); err != nil {
				return nil, fmt.Errorf("%s: __metadata__: %w", path, err)
			}
			continue
		}
		var e headerEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("%s: tensor %q: %w", path, name, err)
		}
		if e.DType.Size() == 0 {
			return nil, fmt.Errorf("%s: tensor %q: unsupported dtype %q", path, name, e.DType)
		}
		begin, end := e.DataOffsets[0], e.DataOffsets[1]
		if begin < 0 || end < begin || end > dataLen || end-begin != int64(Info{Shape: e.Shape}.NumElements()*e.DType.Size()) {
			return nil, fmt.Errorf("%s: tensor %q: data offsets %v do not fit dtype %s shape %v (data section %d bytes)",
				path, name, e.DataOffsets, e.DType, e.Shape, dataLen)
		}
		h.entries[name] = e
	}
	return h, nil
}

// ReadFile reads every tensor of one safetensors file, and its metadata.
func ReadFile(path string) (map[string]Tensor, map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	h, err := readHeader(f, path)
	if err != nil {
		return nil, nil, err
	}
	tensors := make(map[string]Tensor, len(h.entries))
	for name, e := range h.entries {
		t := Tensor{DType: e.DType, Shape: e.Shape, Data: make([]byte, e.DataOffsets[1]-e.DataOffsets[0])}
		if _, err := f.ReadAt(t.Data, h.dataStart+e.DataOffsets[0]); err != nil {
			return nil, nil, fmt.Errorf("%s: tensor %q: %w", path, name, err)
		}
		tensors[name] = t
	}
	return tensors, h.meta, nil
}

// ReadHeader reads only the header of one safetensors file: each tensor's
// dtype and shape, and the metadata. No tensor data is read.
func ReadHeader(path string) (map[string]Info, map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	h, err := readHeader(f, path)
	if err != nil {
		return nil, nil, err
	}
	infos := make(map[string]Info, len(h.entries))
	for name, e := range h.entries {
		infos[name] = Info{DType: e.DType, Shape: e.Shape}
	}
	return infos, h.meta, nil
}

// IndexFile is the name of the index of a sharded checkpoint.
const IndexFile = "model.safetensors.index.json"

// SingleFile is the name of an unsharded checkpoint.
const SingleFile = "model.safetensors"

type index struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// ReadDir reads a checkpoint directory: model.safetensors.index.json and its
// shards if the index exists, else model.safetensors.
func ReadDir(dir string) (map[string]Tensor, error) {
	return readDir(dir, func(p string) (map[string]Tensor, error) {
		t, _, err := ReadFile(p)
		return t, err
	})
}

// ReadDirHeaders is ReadDir reading only the headers: each tensor's dtype
// and shape.
func ReadDirHeaders(dir string) (map[string]Info, error) {
	return readDir(dir, func(p string) (map[string]Info, error) {
		t, _, err := ReadHeader(p)
		return t, err
	})
}

func readDir[T any](dir string, readFile func(path string) (map[string]T, error)) (map[string]T, error) {
	idxPath := filepath.Join(dir, IndexFile)
	raw, err := os.ReadFile(idxPath)
	if os.IsNotExist(err) {
		p := filepath.Join(dir, SingleFile)
		t, err := readFile(p)
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%s: no %s nor %s", dir, SingleFile, IndexFile)
		}
		return t, err
	} else if err != nil {
		return nil, err
	}
	var idx index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("%s: %w", idxPath, err)
	}
	shards := map[string]bool{}
	for _, s := range idx.WeightMap {
		if strings.Contains(s, "/") || strings.Contains(s, `\`) {
			return nil, fmt.Errorf("%s: shard name %q is not a plain file name", idxPath, s)
		}
		shards[s] = true
	}
	all := map[string]T{}
	for s := range shards {
		p := filepath.Join(dir, s)
		ts, err := readFile(p)
		if err != nil {
			return nil, err
		}
		for name, t := range ts {
			if want, ok := idx.WeightMap[name]; ok && want != s {
				return nil, fmt.Errorf("%s: tensor %q found in %s, index says %s", idxPath, name, s, want)
			}
			all[name] = t
		}
	}
	for name, s := range idx.WeightMap {
		if _, ok := all[name]; !ok {
			return nil, fmt.Errorf("%s: tensor %q listed in %s is not in %s", dir, name, IndexFile, s)
		}
	}
	return all, nil
}

// WriteFile writes tensors (in name order) with metadata to path atomically:
// a temporary file in the same directory, fsync, rename.
func WriteFile(path string, tensors map[string]Tensor, metadata map[string]string) error {
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var off int64
	for _, n := range names {
		t := tensors[n]
		if len(t.Data) != t.NumElements()*t.DType.Size() || t.DType.Size() == 0 {
			return fmt.Errorf("%s: tensor %q: %d bytes for dtype %s shape %v", path, n, len(t.Data), t.DType, t.Shape)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[n] = headerEntry{DType: t.DType, Shape: shape, DataOffsets: [2]int64{off, off + int64(len(t.Data))}}
		off += int64(len(t.Data))
	}
	hjson, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(hjson)%8 != 0 { // align the data section, as the reference writer does
		hjson = append(hjson, ' ')
	}
	return writeAtomic(path, func(w io.Writer) error {
		var lenBuf [8]byte
		binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hjson)))
		if _, err := w.Write(lenBuf[:]); err != nil {
			return err
		}
		if _, err := w.Write(hjson); err != nil {
			return err
		}
		for _, n := range names {
			if _, err := w.Write(tensors[n].Data); err != nil {
				return err
			}
		}
		return nil
	})
}

// DefaultMaxShardBytes is the shard size WriteDir uses when given 0: 5 GB,
// as transformers' save_pretrained.
const DefaultMaxShardBytes = 5_000_000_000

// WriteDir writes tensors into dir as model.safetensors, or, when they exceed
// maxShardBytes (0: DefaultMaxShardBytes), as model-0000i-of-0000n.safetensors
// shards plus model.safetensors.index.json. Stale files of the other layout
// are removed after the new ones are in place.
func WriteDir(dir string, tensors map[string]Tensor, maxShardBytes int64) error {
	if maxShardBytes <= 0 {
		maxShardBytes = DefaultMaxShardBytes
	}
	names := make([]string, 0, len(tensors))
	var total int64
	for n, t := range tensors {
		names = append(names, n)
		total += int64(len(t.Data))
	}
	sort.Strings(names)
	meta := map[string]string{"format": "pt"}
	oldShards, _ := filepath.Glob(filepath.Join(dir, "model-*-of-*.safetensors"))
	if total <= maxShardBytes {
		if err := WriteFile(filepath.Join(dir, SingleFile), tensors, meta); err != nil {
			return err
		}
		for _, p := range oldShards {
			_ = os.Remove(p)
		}
		_ = os.Remove(filepath.Join(dir, IndexFile))
		return nil
	}
	var groups [][]string
	var cur []string
	var curBytes int64
	for _, n := range names {
		sz := int64(len(tensors[n].Data))
		if len(cur) > 0 && curBytes+sz > maxShardBytes {
			groups = append(groups, cur)
			cur, curBytes = nil, 0
		}
		cur = append(cur, n)
		curBytes += sz
	}
	groups = append(groups, cur)
	idx := index{Metadata: map[string]any{"total_size": total}, WeightMap: map[string]string{}}
	written := map[string]bool{}
	for i, g := range groups {
		file := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(groups))
		part := map[string]Tensor{}
		for _, n := range g {
			part[n] = tensors[n]
			idx.WeightMap[n] = file
		}
		if err := WriteFile(filepath.Join(dir, file), part, meta); err != nil {
			return err
		}
		written[filepath.Join(dir, file)] = true
	}
	raw, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(dir, IndexFile), func(w io.Writer) error { _, err := w.Write(raw); return err }); err != nil {
		return err
	}
	for _, p := range oldShards {
		if !written[p] {
			_ = os.Remove(p)
		}
	}
	_ = os.Remove(filepath.Join(dir, SingleFile))
	return nil
}

func writeAtomic(path string, fill func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := &bufWriter{f: tmp, buf: make([]byte, 0, 1<<20)}
	if err := fill(bw); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := bw.flush(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	ok = true
	return nil
}

type bufWriter struct {
	f   *os.File
	buf []byte
}

func (b *bufWriter) Write(p []byte) (int, error) {
	if len(b.buf)+len(p) > cap(b.buf) {
		if err := b.flush(); err != nil {
			return 0, err
		}
		if len(p) >= cap(b.buf) {
			return b.f.Write(p)
		}
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *bufWriter) flush() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.f.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

func f32ToBF16(v float32) uint16 {
	b := math.Float32bits(v)
	if v != v { // NaN: keep it a quiet NaN
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7FFF + (b>>16)&1) >> 16)
}

func f16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1F
	mant := uint32(h) & 0x3FF
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3FF
		return math.Float32frombits(sign | e<<23 | mant<<13)
	case exp == 0x1F:
		return math.Float32frombits(sign | 0xFF<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

func f32ToF16(v float32) uint16 {
	b := math.Float32bits(v)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xFF
	mant := b & 0x7FFFFF
	if exp == 0xFF {
		if mant != 0 {
			return sign | 0x7E00
		}
		return sign | 0x7C00
	}
	e := exp - 127 + 15
	if e >= 0x1F {
		return sign | 0x7C00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		r := mant >> shift
		rem := mant & (1<<shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | mant>>13
	rem := mant & 0x1FFF
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++
	}
	return sign | uint16(r)
}
