package model

import (
	"fmt"
	"slices"
	"strings"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph ops read best unqualified
)

// Every architecture declares its weights once, in its arch_*.go file, next
// to the forward code of the block that uses them (see architecture). The
// declaration is a table of weights (HF name, shape, initialiser, and for
// the matrices of linear maps their layout) that New, Load and Save read,
// and it hands the forward pass the same names, grouped per block.

// initKind is how New fills a weight.
type initKind uint8

const (
	initNormal initKind = iota // normal(0, InitRange), drawn from New's generator in table order
	initOnes                   // norm scales
	initZeros                  // biases
)

func (k initKind) String() string {
	switch k {
	case initNormal:
		return "normal"
	case initOnes:
		return "ones"
	case initZeros:
		return "zeros"
	}
	return fmt.Sprintf("initKind(%d)", uint8(k))
}

// layout tells whether a weight is the matrix of a linear map (what LoRA
// adapts) and how that matrix is stored.
type layout uint8

const (
	notLinear layout = iota // embeddings, norm scales, biases
	outIn                   // torch nn.Linear: [out, in], y = x·wᵀ + b
	inOut                   // gpt2's Conv1D: [in, out], y = x·w + b
)

func (l layout) String() string {
	switch l {
	case notLinear:
		return "-"
	case outIn:
		return "[out,in]"
	case inOut:
		return "[in,out]"
	}
	return fmt.Sprintf("layout(%d)", uint8(l))
}

// weight is one row of a model's weight table: one tensor of the HF checkpoint.
type weight struct {
	Name   string   // HF name, e.g. "model.layers.0.self_attn.q_proj.weight"
	Shape  []int    // in the HF layout
	Init   initKind // how New fills it
	Layout layout   // for the matrix of a linear map, how it is stored; notLinear otherwise
	Layer  int      // the block it belongs to; -1 for embeddings, final norm and heads
}

// module is the HF module holding the weight: its name without the last
// component ("model.layers.0.self_attn.q_proj"). PEFT's target_modules match
// its last component(s) ("q_proj", "attn.c_attn").
func (w weight) module() string {
	if i := strings.LastIndexByte(w.Name, '.'); i >= 0 {
		return w.Name[:i]
	}
	return w.Name
}

// inOut returns the input and output sizes of a linear map's matrix.
func (w weight) inOut() (in, out int) {
	switch w.Layout {
	case outIn:
		return w.Shape[1], w.Shape[0]
	case inOut:
		return w.Shape[0], w.Shape[1]
	}
	panic(fmt.Sprintf("%s is not the matrix of a linear map", w.Name))
}

// linearW names the weights of one linear map as the forward pass applies
// it (fwd.linear); b is "" when it has no bias.
type linearW struct {
	w, b   string
	layout layout
	out    int // output size (of the bias)
}

// normW names a LayerNorm's or RMSNorm's scale and bias ("" for RMSNorm).
type normW struct{ w, b string }

// decl collects a weight table while an architecture declares its weights:
// each method adds rows and returns the names the forward pass will use.
// Rows keep declaration order, which is checkpoint order: New draws the
// random values in it, so reordering changes every freshly initialised model.
type decl struct {
	ws    []weight
	layer int // the block being declared (declareBlocks sets it); -1 outside blocks
}

func newDecl() *decl { return &decl{layer: -1} }

// add declares one tensor and returns its name.
func (d *decl) add(name string, init initKind, lay layout, shape ...int) string {
	d.ws = append(d.ws, weight{Name: name, Shape: shape, Init: init, Layout: lay, Layer: d.layer})
	return name
}

// embedding declares a lookup table [rows, H] (normal init).
func (d *decl) embedding(name string, rows, H int) string {
	return d.add(name, initNormal, notLinear, rows, H)
}

// matrix declares module.weight, the matrix of a linear map in → out stored
// as lay (normal init), without a bias: add it with bias.
func (d *decl) matrix(module string, lay layout, in, out int) linearW {
	shape := []int{out, in}
	if lay == inOut {
		shape = []int{in, out}
	}
	return linearW{w: d.add(module+".weight", initNormal, lay, shape...), layout: lay, out: out}
}

// bias declares the zero bias [out] of a linear map declared by matrix.
func (d *decl) bias(l *linearW) {
	l.b = d.add(strings.TrimSuffix(l.w, ".weight")+".bias", initZeros, notLinear, l.out)
}

// linear declares a linear map with a bias: module.weight then module.bias.
func (d *decl) linear(module string, lay layout, in, out int) linearW {
	l := d.matrix(module, lay, in, out)
	d.bias(&l)
	return l
}

// norm declares a norm over n features: module.weight (ones) and, with
// bias (LayerNorm), module.bias (zeros).
func (d *decl) norm(module string, n int, bias bool) normW {
	nw := normW{w: d.add(module+".weight", initOnes, notLinear, n)}
	if bias {
		nw.b = d.add(module+".bias", initZeros, notLinear, n)
	}
	return nw
}

// declareBlocks declares blocks 0..n-1 in order with declare(l), tagging
// their weights with their layer.
func declareBlocks[B any](d *decl, n int, declare func(l int) B) []B {
	bs := make([]B, n)
	for l := range bs {
		d.layer = l
		bs[l] = declare(l)
	}
	d.layer = -1
	return bs
}

// architecture is one family of HF decoder-only models (arch_*.go).
type architecture interface {
	// prefix is transformers' base_model_prefix + ".": the base model's
	// weights are named prefix+... in *ForCausalLM and
	// *ForSequenceClassification checkpoints.
	prefix() string
	// embedding is the HF name of the input embedding [V, H], which is
	// also the LM head when the embeddings are tied.
	embedding() string
	// declare adds every weight of the base model (embeddings, blocks,
	// final norm) to d in checkpoint order and returns the base model
	// holding their names, whose forward pass uses exactly those.
	declare(c *Config, d *decl) baseModel
}

// baseModel is a declared base model: the names of its weights, grouped as
// its forward pass uses them.
type baseModel interface {
	// forward embeds tokens [B,T] at positions pos [B,T] int32, runs every
	// block and returns the final-normed hidden states [B,T,H].
	forward(f *fwd, tokens, pos *Node, at *attention) *Node
}

// architectures maps config.json's model_type to its architecture.
var architectures = map[string]architecture{
	ArchGPT2:    gpt2{},
	ArchLlama:   llama{},
	ArchQwen2:   llama{},
	ArchMistral: llama{},
	ArchBloom:   bloom{},
}

// arch is the architecture of c.Arch (Validate rejects unknown ones).
func (c *Config) arch() architecture {
	a, ok := architectures[c.Arch]
	if !ok {
		panic(fmt.Sprintf("model_type %q is not supported", c.Arch))
	}
	return a
}

// lmHeadWeight is the HF name of an untied LM head, [V, H].
const lmHeadWeight = "lm_head.weight"

// ScoreWeight is the HF name of the value/reward head, [num_labels, hidden]
// (the *ForSequenceClassification layout TRL uses).
const ScoreWeight = "score.weight"

// weights is the table of the tensors a model with this config holds, in
// HF names and layout, in checkpoint order: the base model's, then the
// untied lm_head.weight if lmHead, then score.weight if NumLabels > 0.
func (c *Config) weights(lmHead bool) []weight {
	d := newDecl()
	c.arch().declare(c, d)
	if lmHead && !c.TieEmbeddings {
		d.add(lmHeadWeight, initNormal, outIn, c.VocabSize, c.Hidden)
	}
	if c.NumLabels > 0 {
		d.add(ScoreWeight, initNormal, outIn, c.NumLabels, c.Hidden)
	}
	return d.ws
}

// linears lists the matrices of the linear maps of a model with this
// config (the rows of weights(lmHead) with a layout): what LoRA may
// target. Block weights have Layer ≥ 0; lm_head and score have -1.
func (c *Config) linears(lmHead bool) []weight {
	var ls []weight
	for _, w := range c.weights(lmHead) {
		if w.Layout != notLinear {
			ls = append(ls, w)
		}
	}
	return ls
}

// isIgnoredBuffer reports tensors that HF checkpoints may hold but are not
// weights: causal-mask and rotary buffers.
func isIgnoredBuffer(name string) bool {
	return strings.HasSuffix(name, ".attn.bias") || strings.HasSuffix(name, ".attn.masked_bias") ||
		strings.HasSuffix(name, "rotary_emb.inv_freq")
}

// VariablePath maps a Hugging Face tensor name to the GoMLX variable path
// holding it: "/" + the name with dots replaced by "/" (scope per dotted
// component, variable named by the last one), e.g.
// "model.layers.0.self_attn.q_proj.weight" → "/model/layers/0/self_attn/q_proj/weight".
func VariablePath(hfName string) string { return "/" + strings.ReplaceAll(hfName, ".", "/") }

// HFName is the inverse of VariablePath.
func HFName(variablePath string) string {
	return strings.ReplaceAll(strings.TrimPrefix(variablePath, "/"), "/", ".")
}

// listNames formats a few names for an error message.
func listNames(names []string) string {
	slices.Sort(names)
	if len(names) > 20 {
		return strings.Join(names[:20], ", ") + fmt.Sprintf(" ... (%d in all)", len(names))
	}
	return strings.Join(names, ", ")
}
