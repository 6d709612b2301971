package model

import (
	"fmt"

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
}

// NewDecoder prepares (but does not yet compile) the decoding graphs.
func NewDecoder(backend compute.Backend, m *Model) (*Decoder, error) {
	if !m.HasLMHead {
		return nil, fmt.Errorf("model has no LM head: it cannot generate")
	}
	d := &Decoder{m: m, backend: backend}
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
// slot scalar int32, then L K caches and L V caches → logits [B,V] and the
// updated caches.
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
	hidden, _ := d.m.transformer(tokens, ExpandAxes(pos, 1), at)
	out := []*Node{toF32(d.m.Logits(Squeeze(hidden, 1)))}
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
}

// CacheLen is the number of cache slots (prompt + new tokens).
func (s *DecodeState) CacheLen() int { return s.s }

// Slot is the cache slot the next Step writes.
func (s *DecodeState) Slot() int { return s.slot }

// Start prefills left-padded prompts tokens [B][P] with mask [B][P] into a
// cache of cacheLen ≥ P slots, returning the next-token logits [B][V].
func (d *Decoder) Start(tokens, mask [][]int32, cacheLen int) (*DecodeState, [][]float32, error) {
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
	out, err := s.d.step.Exec(args...)
	if err != nil {
		return nil, err
	}
	s.caches = out[1:]
	s.slot++
	return logitsRows(out[0])
}

// Close frees the cache tensors.
func (s *DecodeState) Close() {
	for _, c := range s.caches {
		c.FinalizeAll()
	}
	s.caches = nil
}
