package model

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph ops read best unqualified
	"github.com/gomlx/gomlx/ml/nn"

	"github.com/rlhf-project/rlhf/option"
)

func sqrtf(x float64) float64 { return math.Sqrt(x) }

// maskedScore is what masked attention scores are set to before softmax: low
// enough that exp() underflows to 0, finite so fully masked rows (padding
// queries) give uniform weights instead of NaN.
const maskedScore = -1e9

// w returns the graph node of weight hfName.
func (m *Model) w(g *Graph, hfName string) *Node {
	v := m.Variable(hfName)
	if v == nil {
		panic(fmt.Sprintf("model has no weight %q", hfName))
	}
	n := v.NodeValue(g)
	if dt := m.computeDType(); n.DType() != dt {
		n = ConvertDType(n, dt)
	}
	return n
}

// computeDType is the dtype of weights and activations in graphs.
func (m *Model) computeDType() dtypes.DType {
	if m.ComputeDType == dtypes.InvalidDType {
		return dtypes.Float32
	}
	return m.ComputeDType
}

// SetComputeDType sets ComputeDType from the DType option of a command
// (float32, the default, bfloat16 or float16).
func (m *Model) SetComputeDType(name string) error {
	switch name {
	case "", "float32", "f32":
		m.ComputeDType = dtypes.Float32
	case "bfloat16", "bf16":
		m.ComputeDType = dtypes.BFloat16
	case "float16", "f16":
		m.ComputeDType = dtypes.Float16
	default:
		return option.Errorf("{DType} %q: want float32, bfloat16 or float16", name)
	}
	return nil
}

func toF32(x *Node) *Node {
	if x == nil || x.DType() == dtypes.Float32 {
		return x
	}
	return ConvertDType(x, dtypes.Float32)
}

func toDType(x *Node, dt dtypes.DType) *Node {
	if x.DType() == dt {
		return x
	}
	return ConvertDType(x, dt)
}

// attention is the per-call state shared by all layers: masks, positions and
// (when decoding) the KV cache.
type attention struct {
	keyMask *Node // [B,S] bool: key slot holds a real token
	allowed *Node // [B,1,Tq,S] bool: query may attend key (causal & keyMask)
	keyPos  *Node // [B,S] float32 positions of key slots (ALiBi)

	// Decoding: cache[l] holds K and V [B,KV,S,D] of layer l; the single new
	// token goes to slot (scalar int32). Nil for a full forward pass.
	cacheK, cacheV []*Node
	slot           *Node
	// Outputs: K and V of each layer over all S slots.
	outK, outV []*Node
	// inOut, when set, holds [in, out] copies of some [out, in] matrices,
	// by HF name, for linear maps to use instead (Decoder.inOut).
	inOut map[string]*Node
}

// toBool converts a mask of any dtype to bool (non-zero = true).
func toBool(mask *Node) *Node {
	if mask.DType() == dtypes.Bool {
		return mask
	}
	return NotEqual(mask, ZerosLike(mask))
}

// PositionsFromMask returns position ids [B,T] int32 = cumsum(mask)-1,
// clamped at 0: the position of each real token among the real tokens of its
// row, so left and right padding give the same positions.
func PositionsFromMask(mask *Node) *Node {
	mi := ConvertDType(toBool(mask), dtypes.Int32)
	return Max(SubScalar(CumSum(mi, 1), 1), ZerosLike(mi))
}

// causalMask is [T,T] bool, [q,k] true when key k is visible from query q:
// k ≤ q, and q-k < sliding_window for mistral-style local attention. Real
// tokens are contiguous in a row (padding only at one end), so slot
// distances are token distances.
func (m *Model) causalMask(g *Graph, T int) *Node {
	k := Iota(g, shapes.Make(dtypes.Int32, T, T), 1)
	q := Iota(g, shapes.Make(dtypes.Int32, T, T), 0)
	mask := LessOrEqual(k, q)
	if w := m.Config.SlidingWindow; w > 0 {
		mask = LogicalAnd(mask, LessThan(Sub(q, k), Scalar(g, dtypes.Int32, w)))
	}
	return mask
}

// Hidden runs the transformer on tokens [B,T] int32 with mask [B,T] and
// returns the final hidden states [B,T,H] (after the final norm).
//
// mask is 0 for padding and, for real tokens, a segment id: tokens attend
// only to earlier tokens of the same segment, and positions restart at 0 in
// each segment. A plain 0/1 padding mask is one segment per row; packed
// rows (several examples in one row) give each example its own id
// (1, 2, 3, ...), so examples cannot see each other.
func (m *Model) Hidden(tokens, mask *Node) *Node {
	g := tokens.Graph()
	T := tokens.Shape().Dim(1)
	km := toBool(mask)
	seg := ConvertDType(mask, dtypes.Int32)
	sameSeg := LogicalAnd(Equal(ExpandAxes(seg, 2), ExpandAxes(seg, 1)), ExpandAxes(km, 1)) // [B,Tq,Tk]
	causal := m.causalMask(g, T)
	allowed := LogicalAnd(ExpandAxes(causal, 0, 1), ExpandAxes(sameSeg, 1)) // [B,1,T,T]
	// Position of a token: the real tokens of its segment up to it, minus one.
	lower := LessOrEqual(Iota(g, shapes.Make(dtypes.Int32, T, T), 1), Iota(g, shapes.Make(dtypes.Int32, T, T), 0))
	upTo := ConvertDType(LogicalAnd(ExpandAxes(lower, 0), sameSeg), dtypes.Int32)
	pos := ReduceSum(upTo, 2)
	pos = Max(SubScalar(pos, 1), ZerosLike(pos))
	at := &attention{keyMask: km, allowed: allowed}
	at.keyPos = ConvertDType(pos, dtypes.Float32)
	h, _ := m.transformer(tokens, pos, at)
	return h
}

// Forward returns logits [B,T,V] and final hidden states [B,T,H].
func (m *Model) Forward(tokens, mask *Node) (logits, hidden *Node) {
	hidden = m.Hidden(tokens, mask)
	return m.Logits(hidden), hidden
}

// Logits applies the LM head to hidden states [...,H] → [...,V].
func (m *Model) Logits(hidden *Node) *Node { return m.logits(hidden, nil) }

// logits is Logits, with the LM head's [in, out] copy from inOut if there.
func (m *Model) logits(hidden *Node, inOut map[string]*Node) *Node {
	if !m.HasLMHead {
		panic("model has no LM head (a *ForSequenceClassification checkpoint with untied embeddings)")
	}
	name := lmHeadWeight
	if m.Config.TieEmbeddings {
		name = m.Config.arch().embedding()
	}
	if wt := inOut[name]; wt != nil {
		return m.withAdapter(hidden, conv1d(hidden, wt, nil), name)
	}
	return m.withAdapter(hidden, linear(hidden, m.w(hidden.Graph(), name), nil), name)
}

// Values applies the score head to every position: hidden [B,T,H] → [B,T]
// (num_labels must be 1). PPO's value function uses it.
func (m *Model) Values(hidden *Node) *Node {
	w := m.w(hidden.Graph(), ScoreWeight)
	v := linear(hidden, w, nil) // [B,T,num_labels]
	return toF32(Squeeze(SliceAxis(v, -1, AxisElem(0)), -1))
}

// LastTokenIndex returns, for each row of mask [B,T], the index of its last
// real token [B] int32 (0 for an all-padding row).
func LastTokenIndex(mask *Node) *Node {
	g := mask.Graph()
	T := mask.Shape().Dim(1)
	mi := ConvertDType(toBool(mask), dtypes.Int32)
	idx := Mul(mi, AddScalar(Iota(g, shapes.Make(dtypes.Int32, mask.Shape().Dim(0), T), 1), 1))
	return Max(SubScalar(ReduceMax(idx, 1), 1), ZerosLike(ReduceMax(idx, 1)))
}

// AtIndex takes x[b, idx[b], ...]: x [B,T,...], idx [B] int → [B,...].
func AtIndex(x, idx *Node) *Node {
	g := x.Graph()
	B := x.Shape().Dim(0)
	rows := Iota(g, shapes.Make(dtypes.Int32, B), 0)
	ind := Stack([]*Node{rows, ConvertDType(idx, dtypes.Int32)}, -1) // [B,2]
	return Gather(x, ind)
}

// Score is the scalar reward/value of each sequence: the score head applied
// to the hidden state of the last real token. hidden [B,T,H], mask [B,T] → [B].
func (m *Model) Score(hidden, mask *Node) *Node {
	return AtIndex(m.Values(hidden), LastTokenIndex(mask))
}

// flattenLinear selects linear's matrix form; BenchmarkFlattenLinear
// compares it with the rank-3 one.
var flattenLinear = true

// linear is x·wᵀ + b for an HF Linear weight w [out, in]; b may be nil.
// (nn.Dense with DenseLayoutOutputsInput measured 0-5% slower on the go
// backend at qwen2-100m, so it stays DotGeneral + Add.)
//
// x [..., in] is multiplied as a matrix [N, in]: the weight gradient then
// contracts two matrices over their first axis, which the go backend runs
// after two tiled, parallel 2-D transposes; from x's rank-3 form it
// transposed [B,T,C] → [C,B,T] with its generic element-by-element
// iterator, which took 12% of a qwen2-100m training step.
func linear(x, w, b *Node) *Node {
	var y *Node
	if flattenLinear && x.Rank() > 2 && !x.Shape().IsDynamic() {
		dims := x.Shape().Dimensions
		in := dims[len(dims)-1]
		y = DotGeneral(Reshape(x, x.Shape().Size()/in, in), []int{1}, nil, w, []int{1}, nil)
		y = Reshape(y, append(slices.Clone(dims[:len(dims)-1]), w.Shape().Dim(0))...)
	} else {
		y = DotGeneral(x, []int{x.Rank() - 1}, nil, w, []int{1}, nil)
	}
	if b != nil {
		y = Add(y, ExpandLeftToRank(b, y.Rank()))
	}
	return y
}

// conv1d is x·w + b for a gpt2 Conv1D weight w [in, out]. nn.Dense runs it as
// the backend's fused dense op where there is one (the go backend: gpt2 "mid"
// trains 15-25% faster than with DotGeneral + Add) and as DotGeneral + Add
// elsewhere (XLA fuses those itself).
func conv1d(x, w, b *Node) *Node {
	return nn.Dense(x, w, b, compute.DenseLayoutInputOutputs)
}

// layerNorm and rmsNorm compute in float32 whatever the compute dtype.
func layerNorm(x, w, b *Node, eps float64) *Node {
	dt := x.DType()
	x, w, b = toF32(x), toF32(w), toF32(b)
	mean := ReduceAndKeep(x, ReduceMean, -1)
	xc := Sub(x, mean)
	variance := ReduceAndKeep(Square(xc), ReduceMean, -1)
	y := Div(xc, Sqrt(AddScalar(variance, eps))) // Rsqrt has no gradient in GoMLX v0.28.8
	return toDType(Add(Mul(y, ExpandLeftToRank(w, y.Rank())), ExpandLeftToRank(b, y.Rank())), dt)
}

func rmsNorm(x, w *Node, eps float64) *Node {
	dt := x.DType()
	x, w = toF32(x), toF32(w)
	variance := ReduceAndKeep(Square(x), ReduceMean, -1)
	return toDType(Mul(Div(x, Sqrt(AddScalar(variance, eps))), ExpandLeftToRank(w, x.Rank())), dt)
}

func activation(name string, x *Node) *Node {
	switch name {
	case "gelu_new", "bloom_gelu", "gelu_pytorch_tanh", "gelu_fast":
		inner := MulScalar(Add(x, MulScalar(Mul(Mul(x, x), x), 0.044715)), math.Sqrt(2/math.Pi))
		return Mul(MulScalar(x, 0.5), OnePlus(Tanh(inner)))
	case "gelu":
		return Mul(MulScalar(x, 0.5), OnePlus(Erf(MulScalar(x, 1/math.Sqrt2))))
	case "silu", "swish":
		return Mul(x, Sigmoid(x))
	case "relu":
		return Max(x, ZerosLike(x))
	}
	panic(fmt.Sprintf("activation %q is not supported", name))
}

// heads reshapes [B,T,n*D] to [B,n,T,D].
func heads(x *Node, n, d int) *Node {
	B, T := x.Shape().Dim(0), x.Shape().Dim(1)
	return Transpose(Reshape(x, B, T, n, d), 1, 2)
}

// rope applies HF's rotate-half rotary embedding to x [B,n,T,D] at
// positions pos [B,T].
func rope(x, pos *Node, theta float64) *Node {
	g := x.Graph()
	D := x.Shape().Dim(3)
	invFreq := make([]float32, D/2)
	for i := range invFreq {
		invFreq[i] = float32(1 / math.Pow(theta, float64(2*i)/float64(D)))
	}
	freqs := Mul(ExpandAxes(ConvertDType(pos, dtypes.Float32), -1), Reshape(Const(g, invFreq), 1, 1, D/2)) // [B,T,D/2]
	emb := Concatenate([]*Node{freqs, freqs}, -1)                                                          // [B,T,D]
	cos, sin := ExpandAxes(Cos(emb), 1), ExpandAxes(Sin(emb), 1)                                           // [B,1,T,D]
	x1 := SliceAxis(x, 3, AxisRange(0, D/2))
	x2 := SliceAxis(x, 3, AxisRange(D/2, D))
	rot := Concatenate([]*Node{Neg(x2), x1}, 3)
	return Add(Mul(x, ConvertDType(cos, x.DType())), Mul(rot, ConvertDType(sin, x.DType())))
}

// alibiSlopes are bloom's per-head ALiBi slopes.
func alibiSlopes(n int) []float32 {
	closest := 1
	for closest*2 <= n {
		closest *= 2
	}
	base := math.Pow(2, -math.Pow(2, -(math.Log2(float64(closest))-3)))
	s := make([]float32, 0, n)
	for i := 1; i <= closest; i++ {
		s = append(s, float32(math.Pow(base, float64(i))))
	}
	if closest != n {
		extra := math.Pow(2, -math.Pow(2, -(math.Log2(float64(2*closest))-3)))
		for i := 1; len(s) < n; i += 2 {
			s = append(s, float32(math.Pow(extra, float64(i))))
		}
	}
	return s
}

// attend runs attention for layer l: q [B,Hq,Tq,D], kNew/vNew [B,KV,Tq,D],
// with bloom's ALiBi position bias if alibi. Returns [B,Tq,Hq*D].
func attend(l int, q, kNew, vNew *Node, at *attention, alibi bool) *Node {
	k, v := kNew, vNew
	if at.cacheK != nil {
		zero := ScalarZero(q.Graph(), at.slot.DType())
		k = DynamicUpdateSlice(at.cacheK[l], toDType(kNew, at.cacheK[l].DType()), []*Node{zero, zero, at.slot, zero})
		v = DynamicUpdateSlice(at.cacheV[l], toDType(vNew, at.cacheV[l].DType()), []*Node{zero, zero, at.slot, zero})
	}
	at.outK = append(at.outK, k)
	at.outV = append(at.outV, v)
	B, Hq, Tq, D := q.Shape().Dim(0), q.Shape().Dim(1), q.Shape().Dim(2), q.Shape().Dim(3)
	KV, S := k.Shape().Dim(1), k.Shape().Dim(2)
	rep := Hq / KV
	qg := Reshape(q, B, KV, rep, Tq, D)
	scores := Einsum("bgrqd,bgsd->bgrqs", qg, k)
	scores = Reshape(MulScalar(scores, 1/math.Sqrt(float64(D))), B, Hq, Tq, S)
	scores = ConvertDType(scores, dtypes.Float32)
	if alibi {
		slopes := Reshape(Const(q.Graph(), alibiSlopes(Hq)), 1, Hq, 1, 1)
		scores = Add(scores, Mul(slopes, ExpandAxes(at.keyPos, 1, 2))) // [B,Hq,1,S]
	}
	allowed := BroadcastToDims(at.allowed, B, Hq, Tq, S)
	// A scalar onFalse: the go backend runs it as its SIMD vector-scalar
	// Where instead of first filling a [B,Hq,Tq,S] buffer with it.
	scores = Where(allowed, scores, Scalar(q.Graph(), dtypes.Float32, maskedScore))
	probs := ConvertDType(Softmax(scores, -1), v.DType())
	out := Einsum("bgrqs,bgsd->bgrqd", Reshape(probs, B, KV, rep, Tq, S), v) // [B,KV,rep,Tq,D]
	out = Transpose(Reshape(out, B, Hq, Tq, D), 1, 2)                        // [B,Tq,Hq,D]
	return Reshape(out, B, Tq, Hq*D)
}

// transformer embeds tokens [B,Tq] at positions pos [B,Tq] and runs every
// block, returning the final-normed hidden states [B,Tq,H]. The blocks are
// those of the model's architecture (arch_*.go), with the weight names its
// table declares.
func (m *Model) transformer(tokens, pos *Node, at *attention) (*Node, *attention) {
	c := m.Config
	f := &fwd{m: m, c: c, g: tokens.Graph(), inOut: at.inOut}
	f.ckpt = m.GradCheckpoint && at.cacheK == nil && m.Store.IsTraining(f.g)
	return c.arch().declare(c, newDecl()).forward(f, tokens, pos, at), at
}

// fwd is what a block's forward pass works with: the model's weights, by
// the names its declaration returned, as nodes of one graph.
type fwd struct {
	m *Model
	c *Config
	g *Graph
	// ckpt: gradient checkpointing (Model.GradCheckpoint in a training graph).
	ckpt bool
	// inOut: attention.inOut.
	inOut map[string]*Node
}

// block runs one block on x with gradient checkpointing when on: x is the
// checkpointed input (kept for the backward pass), and what the block
// computes from it is recomputed there instead of kept.
func (f *fwd) block(x *Node, run func(x *Node) *Node) *Node {
	if f.ckpt {
		x = x.Checkpoint()
	}
	return run(x)
}

// endBlocks closes the checkpointed region after the last block, so what
// follows (final norm, heads, loss) is kept as usual.
func (f *fwd) endBlocks(x *Node) *Node {
	if f.ckpt {
		return x.StopCheckpoint()
	}
	return x
}

// w is the node of weight name, nil for "" (an absent bias).
func (f *fwd) w(name string) *Node {
	if name == "" {
		return nil
	}
	return f.m.w(f.g, name)
}

// embed looks tokens [B,T] up in the embedding table name [rows, H] → [B,T,H].
func (f *fwd) embed(name string, tokens *Node) *Node {
	return Gather(f.w(name), ExpandAxes(ConvertDType(tokens, dtypes.Int32), -1))
}

// linear applies the linear map l to x [...,in] → [...,out], in l's layout.
func (f *fwd) linear(x *Node, l linearW) *Node {
	var y *Node
	switch l.layout {
	case outIn:
		if wt := f.inOut[l.w]; wt != nil {
			y = conv1d(x, wt, f.w(l.b))
		} else {
			y = linear(x, f.w(l.w), f.w(l.b))
		}
	case inOut:
		y = conv1d(x, f.w(l.w), f.w(l.b))
	default:
		panic(fmt.Sprintf("%s has no linear layout", l.w))
	}
	return f.m.withAdapter(x, y, l.w)
}

func (f *fwd) layerNorm(x *Node, n normW) *Node {
	return layerNorm(x, f.w(n.w), f.w(n.b), f.c.NormEps)
}

func (f *fwd) rmsNorm(x *Node, n normW) *Node { return rmsNorm(x, f.w(n.w), f.c.NormEps) }
