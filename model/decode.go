package model

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

// Decoder runs a model incrementally with a KV cache: Start encodes
// left-padded prompts once (prefill), then each Step feeds one token per row
// and returns the next-token logits. The two graphs are compiled once per
// (batch, prompt length, cache length) shape and reused, so callers should
// bucket lengths (Generate does).
type Decoder struct {
	m             *Model
	backend       compute.Backend
	prefill, step *gmodel.Exec
	// inOut names the weights stored [out, in] (HF's nn.Linear layout and
	// the LM head) that the step graph takes as [in, out] copies, inOutT,
	// which Generate and Start refresh from the current weights. On the go
	// backend a one-token step multiplies [B, in] by each matrix, and with
	// the matrix as [in, out] compute's kernels run 2-3x faster (they pack
	// an [out, in] one with a slower routine every step; docs/model.md).
	// The copies cost the memory of those weights once more while a
	// Generate runs or a Start's DecodeState is open (inOutUsers counts
	// them; the last to end frees the copies). Empty on XLA, which picks
	// layouts itself, and for weights that are not float32.
	inOut      []string
	inOutT     []*tensors.Tensor
	inOutUsers int
}

// NewDecoder prepares (but does not yet compile) the decoding graphs.
func NewDecoder(backend compute.Backend, m *Model) (*Decoder, error) {
	if !m.HasLMHead {
		return nil, fmt.Errorf("model has no LM head: it cannot generate")
	}
	d := &Decoder{m: m, backend: backend}
	if backend.String() == DefaultBackend && m.computeDType() == dtypes.Float32 {
		d.inOut = m.outInMatrices()
	}
	var err error
	d.prefill, err = gmodel.NewExec(backend, m.Store, d.prefillGraph)
	if err != nil {
		return nil, err
	}
	d.step, err = gmodel.NewExec(backend, m.Store, d.stepGraph)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// DecoderCopies is the number of weights of a model with config c that the
// go backend's decoder holds a second time, as [in, out] copies of its
// [out, in] matrices (Decoder.inOut) when its weights are float32.
func DecoderCopies(c *Config) int64 {
	n := int64(c.VocabSize) * int64(c.Hidden) // the LM head, tied or not
	for _, w := range c.linears(false) {
		if w.Layout == outIn && w.Layer >= 0 {
			n += int64(w.Shape[0]) * int64(w.Shape[1])
		}
	}
	return n
}

// outInMatrices names the decoding's float32 [out, in] matrices: the
// blocks' outIn linears and the LM head (the embedding when tied).
func (m *Model) outInMatrices() []string {
	var names []string
	for _, w := range m.Config.linears(false) {
		if w.Layout == outIn && w.Layer >= 0 {
			names = append(names, w.Name)
		}
	}
	if m.Config.TieEmbeddings {
		names = append(names, m.Config.arch().embedding())
	} else {
		names = append(names, lmHeadWeight)
	}
	var f32 []string
	for _, n := range names {
		if v := m.Variable(n); v != nil && v.DType() == dtypes.Float32 && v.Shape().Rank() == 2 {
			f32 = append(f32, n)
		}
	}
	return f32
}

// acquireInOut refreshes the [in, out] copies from the current weights
// (allocating them if none are held) and counts one more user of them.
func (d *Decoder) acquireInOut() error {
	if err := d.refreshInOut(); err != nil {
		return err
	}
	d.inOutUsers++
	return nil
}

// releaseInOut ends one use of the copies; the last frees them.
func (d *Decoder) releaseInOut() {
	if d.inOutUsers == 0 {
		return
	}
	d.inOutUsers--
	if d.inOutUsers > 0 {
		return
	}
	for _, t := range d.inOutT {
		if t != nil {
			t.FinalizeAll()
		}
	}
	d.inOutT = nil
}

// refreshInOut writes the current values of the weights of d.inOut,
// transposed, into d.inOutT (allocated when nil, else written in place).
func (d *Decoder) refreshInOut() error {
	if len(d.inOut) == 0 {
		return nil
	}
	if d.inOutT == nil {
		d.inOutT = make([]*tensors.Tensor, len(d.inOut))
	}
	for i, name := range d.inOut {
		v := d.m.Variable(name)
		src, err := v.Value()
		if err != nil {
			return fmt.Errorf("decoder: %s: %w", name, err)
		}
		rows, cols := src.Shape().Dim(0), src.Shape().Dim(1)
		if d.inOutT[i] == nil {
			t, err := tensors.FromShapeForBackend(d.backend, 0, shapes.Make(dtypes.Float32, cols, rows))
			if err != nil {
				return fmt.Errorf("decoder: %s: %w", name, err)
			}
			d.inOutT[i] = t
		}
		var werr error
		if err := tensors.ConstFlatData(src, func(s []float32) {
			werr = tensors.MutableFlatData(d.inOutT[i], func(dst []float32) { transposeInto(dst, s, rows, cols) })
		}); err != nil {
			return fmt.Errorf("decoder: %s: %w", name, err)
		}
		if werr != nil {
			return fmt.Errorf("decoder: %s: %w", name, werr)
		}
	}
	return nil
}

// transposeInto writes src [rows, cols] (row-major) transposed into dst
// [cols, rows], in 64×64 tiles, rows of tiles spread over GOMAXPROCS
// goroutines.
func transposeInto(dst, src []float32, rows, cols int) {
	const tile = 64
	dst, src = dst[:rows*cols], src[:rows*cols]
	tiles := (rows + tile - 1) / tile
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), tiles) {
		wg.Go(func() {
			for {
				r0 := int(next.Add(1)-1) * tile
				if r0 >= rows {
					return
				}
				r1 := min(r0+tile, rows)
				for c0 := 0; c0 < cols; c0 += tile {
					c1 := min(c0+tile, cols)
					for c := c0; c < c1; c++ {
						out := dst[c*rows+r0 : c*rows+r1]
						for i := range out {
							out[i] = src[(r0+i)*cols+c]
						}
					}
				}
			}
		})
	}
	wg.Wait()
}

// prefillGraph: tokens [B,P] int32, keyMask [B,S] int32 (the prompt mask in
// the first P slots, 0 after) → logits of the last prompt slot [B,V] and the
// K, V caches of every layer [B,KV,S,D].
func (d *Decoder) prefillGraph(_ *gmodel.Scope, in []*Node) []*Node {
	tokens, keyMask := in[0], in[1]
	P, S := tokens.Shape().Dim(1), keyMask.Shape().Dim(1)
	mask := toBool(SliceAxis(keyMask, 1, AxisRange(0, P)))
	g := tokens.Graph()
	at := &attention{keyMask: mask, allowed: LogicalAnd(ExpandAxes(d.m.causalMask(g, P), 0, 1), ExpandAxes(mask, 1, 2))}
	at.keyPos = ConvertDType(PositionsFromMask(mask), dtypes.Float32)
	hidden, _ := d.m.transformer(tokens, PositionsFromMask(mask), at)
	last := Squeeze(SliceAxis(hidden, 1, AxisElem(P-1)), 1)
	out := []*Node{toF32(d.m.Logits(last))}
	pad := func(x *Node) *Node {
		if S == P {
			return x
		}
		dims := x.Shape().Dimensions
		z := Zeros(g, shapes.Make(x.DType(), dims[0], dims[1], S-P, dims[3]))
		return Concatenate([]*Node{x, z}, 2)
	}
	for _, k := range at.outK {
		out = append(out, pad(k))
	}
	for _, v := range at.outV {
		out = append(out, pad(v))
	}
	return out
}

// stepGraph: tokens [B,1], keyMask [B,S] (including the new token's slot),
// slot scalar int32, then L K caches, L V caches and the [in, out] weights of
// d.inOut → logits [B,V] and the updated caches.
func (d *Decoder) stepGraph(_ *gmodel.Scope, in []*Node) []*Node {
	L := d.m.Config.Layers
	tokens, keyMask, slot := in[0], toBool(in[1]), in[2]
	g := tokens.Graph()
	B, S := keyMask.Shape().Dim(0), keyMask.Shape().Dim(1)
	slots := Iota(g, shapes.Make(dtypes.Int32, B, S), 1)
	before := LessThan(slots, BroadcastToDims(slot, B, S))
	km := ConvertDType(keyMask, dtypes.Int32)
	pos := ReduceSum(Mul(km, ConvertDType(before, dtypes.Int32)), 1) // [B]: real tokens before the slot
	allowed := LogicalAnd(keyMask, LessOrEqual(slots, BroadcastToDims(slot, B, S)))
	if w := d.m.Config.SlidingWindow; w > 0 {
		allowed = LogicalAnd(allowed, LessThan(Sub(BroadcastToDims(slot, B, S), slots), Scalar(g, dtypes.Int32, w)))
	}
	at := &attention{
		keyMask: keyMask,
		allowed: ExpandAxes(allowed, 1, 2),
		keyPos:  ConvertDType(PositionsFromMask(keyMask), dtypes.Float32),
		cacheK:  in[3 : 3+L],
		cacheV:  in[3+L : 3+2*L],
		slot:    slot,
	}
	if len(d.inOut) > 0 {
		at.inOut = make(map[string]*Node, len(d.inOut))
		for i, name := range d.inOut {
			at.inOut[name] = in[3+2*L+i]
		}
	}
	hidden, _ := d.m.transformer(tokens, ExpandAxes(pos, 1), at)
	out := []*Node{toF32(d.m.logits(Squeeze(hidden, 1), at.inOut))}
	out = append(out, at.outK...)
	return append(out, at.outV...)
}

// DecodeState is one batch being decoded.
type DecodeState struct {
	d       *Decoder
	b, s    int     // batch size, cache slots
	keyMask []int32 // [B*S] row-major
	slot    int     // next free cache slot
	// caches are the K then V caches of every layer [B,KV,S,D]; they stay on
	// the device and are donated to each Step, which updates them in place.
	caches []*tensors.Tensor
	tokens []int32 // [B] scratch for Step's input
	// holdsInOut: Start counted this state as a user of the decoder's
	// weight copies; Close releases them.
	holdsInOut bool
}

// CacheLen is the number of cache slots (prompt + new tokens).
func (s *DecodeState) CacheLen() int { return s.s }

// Slot is the cache slot the next Step writes.
func (s *DecodeState) Slot() int { return s.slot }

// Start prefills left-padded prompts tokens [B][P] with mask [B][P] into a
// cache of cacheLen ≥ P slots, returning the next-token logits [B][V]. The
// state decodes with the model's weights as they are now: change them and
// Start again (or Generate) to decode with the new ones. Close the state
// when done: on the go backend it holds the decoder's weight copies.
func (d *Decoder) Start(tokens, mask [][]int32, cacheLen int) (*DecodeState, [][]float32, error) {
	if err := d.acquireInOut(); err != nil {
		return nil, nil, err
	}
	st, logits, err := d.start(tokens, mask, cacheLen)
	if err != nil {
		d.releaseInOut()
		return nil, nil, err
	}
	st.holdsInOut = true
	return st, logits, nil
}

// start is Start with the [in, out] copies as they are.
func (d *Decoder) start(tokens, mask [][]int32, cacheLen int) (*DecodeState, [][]float32, error) {
	if len(tokens) == 0 || len(tokens[0]) == 0 {
		return nil, nil, fmt.Errorf("decoder: empty batch")
	}
	P := len(tokens[0])
	if cacheLen < P {
		return nil, nil, fmt.Errorf("decoder: cache length %d < prompt length %d", cacheLen, P)
	}
	if d.m.Config.Arch == ArchGPT2 {
		// Positions count real tokens only (PositionsFromMask), so padding
		// slots do not use up the learned position table.
		longest := 0
		for _, row := range mask {
			n := 0
			for _, v := range row {
				if v != 0 {
					n++
				}
			}
			longest = max(longest, n)
		}
		if need := longest + cacheLen - P; need > d.m.Config.MaxPositions {
			return nil, nil, fmt.Errorf("decoder: %d tokens (prompt and new) exceed gpt2's %d positions (n_positions)", need, d.m.Config.MaxPositions)
		}
	}
	B := len(tokens)
	s := &DecodeState{d: d, b: B, s: cacheLen, slot: P, keyMask: make([]int32, B*cacheLen), tokens: make([]int32, B)}
	flatTokens := make([]int32, 0, B*P)
	for b := range tokens {
		if len(tokens[b]) != P || len(mask[b]) != P {
			return nil, nil, fmt.Errorf("decoder: row %d has %d tokens / %d mask values, want %d", b, len(tokens[b]), len(mask[b]), P)
		}
		flatTokens = append(flatTokens, tokens[b]...)
		copy(s.keyMask[b*cacheLen:], mask[b])
	}
	out, err := d.prefill.Exec(tensors.FromFlatDataAndDimensions(flatTokens, B, P),
		tensors.FromFlatDataAndDimensions(s.keyMask, B, cacheLen))
	if err != nil {
		return nil, nil, err
	}
	s.caches = out[1:]
	logits, err := logitsRows(out[0])
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, logits, nil
}

// logitsRows copies logits [B,V] to the host as B rows sharing one slice, and
// frees the tensor.
func logitsRows(t *tensors.Tensor) ([][]float32, error) {
	defer t.FinalizeAll()
	B, V := t.Shape().Dim(0), t.Shape().Dim(1)
	flat := make([]float32, B*V)
	if err := tensors.ConstFlatData(t, func(f []float32) { copy(flat, f) }); err != nil {
		return nil, err
	}
	rows := make([][]float32, B)
	for b := range rows {
		rows[b] = flat[b*V : (b+1)*V : (b+1)*V]
	}
	return rows, nil
}

// Step feeds one token per row (tokens[b]) at the next slot and returns the
// logits [B][V] of the following token. Rows whose live[b] is false (e.g.
// finished) still compute but their slot stays masked out; nil live means all.
func (s *DecodeState) Step(tokens []int32, live []bool) ([][]float32, error) {
	if s.slot >= s.CacheLen() {
		return nil, fmt.Errorf("decoder: cache of %d slots is full", s.CacheLen())
	}
	if len(tokens) != s.b {
		return nil, fmt.Errorf("decoder: %d tokens for a batch of %d", len(tokens), s.b)
	}
	if s.caches == nil {
		return nil, fmt.Errorf("decoder: state is closed (or a previous step failed)")
	}
	copy(s.tokens, tokens)
	for b := range s.b {
		if live == nil || live[b] {
			s.keyMask[b*s.s+s.slot] = 1
		}
	}
	// FromFlatDataAndDimensions copies, so the scratch slices can be reused.
	args := []any{tensors.FromFlatDataAndDimensions(s.tokens, s.b, 1),
		tensors.FromFlatDataAndDimensions(s.keyMask, s.b, s.s), tensors.FromScalar(int32(s.slot))}
	// Donate the caches: the step graph writes the new token's K and V into
	// them in place instead of copying every cache each step.
	caches := s.caches
	s.caches = nil // donated below: unusable if the step fails
	for _, c := range caches {
		donated, err := DonateTensorBuffer(c, s.d.backend, 0)
		if err != nil {
			return nil, err
		}
		args = append(args, donated)
	}
	if len(s.d.inOut) > 0 && s.d.inOutT == nil {
		return nil, fmt.Errorf("decoder: the weight copies are released (a state of a finished Generate)")
	}
	for _, t := range s.d.inOutT {
		args = append(args, t)
	}
	out, err := s.d.step.Exec(args...)
	if err != nil {
		return nil, err
	}
	s.caches = out[1:]
	s.slot++
	return logitsRows(out[0])
}

// Close frees the cache tensors (and, the last one, the decoder's weight
// copies).
func (s *DecodeState) Close() {
	for _, c := range s.caches {
		c.FinalizeAll()
	}
	s.caches = nil
	if s.holdsInOut {
		s.holdsInOut = false
		s.d.releaseInOut()
	}
}
