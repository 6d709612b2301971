package model

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph ops read best unqualified
)

// gpt2 is transformers' GPT-2: learned position embeddings and pre-norm
// blocks whose projections are Conv1D, stored [in, out].
type gpt2 struct{}

const gpt2Prefix = "transformer."

func (gpt2) prefix() string    { return gpt2Prefix }
func (gpt2) embedding() string { return gpt2Prefix + "wte.weight" }

// gpt2Model is GPT2Model: token and position embeddings, the blocks h.N, ln_f.
type gpt2Model struct {
	wte, wpe string
	h        []gpt2Block
	lnF      normW
}

// declare: fields are declared in the order written (checkpoint order).
func (a gpt2) declare(c *Config, d *decl) baseModel {
	return &gpt2Model{
		wte: d.embedding(a.embedding(), c.VocabSize, c.Hidden),
		wpe: d.embedding(gpt2Prefix+"wpe.weight", c.MaxPositions, c.Hidden),
		h:   declareBlocks(d, c.Layers, func(l int) gpt2Block { return declareGPT2Block(d, c, l) }),
		lnF: d.norm(gpt2Prefix+"ln_f", c.Hidden, true),
	}
}

func (m *gpt2Model) forward(f *fwd, tokens, pos *Node, at *attention) *Node {
	x := Add(f.embed(m.wte, tokens), Gather(f.w(m.wpe), ExpandAxes(pos, -1)))
	for l, b := range m.h {
		x = f.block(x, func(x *Node) *Node { return b.forward(f, l, x, at) })
	}
	return f.layerNorm(f.endBlocks(x), m.lnF)
}

// gpt2Block is GPT2Block: ln_1, attention (one fused q|k|v projection
// c_attn, then c_proj), ln_2, MLP (c_fc, activation, c_proj).
type gpt2Block struct {
	ln1              normW
	cAttn, attnCProj linearW
	ln2              normW
	cFC, mlpCProj    linearW
}

func declareGPT2Block(d *decl, c *Config, l int) gpt2Block {
	H, I := c.Hidden, c.Intermediate
	p := fmt.Sprintf("%sh.%d.", gpt2Prefix, l)
	return gpt2Block{
		ln1:       d.norm(p+"ln_1", H, true),
		cAttn:     d.linear(p+"attn.c_attn", inOut, H, 3*H),
		attnCProj: d.linear(p+"attn.c_proj", inOut, H, H),
		ln2:       d.norm(p+"ln_2", H, true),
		cFC:       d.linear(p+"mlp.c_fc", inOut, H, I),
		mlpCProj:  d.linear(p+"mlp.c_proj", inOut, I, H),
	}
}

func (b gpt2Block) forward(f *fwd, l int, x *Node, at *attention) *Node {
	c := f.c
	H, D := c.Hidden, c.HeadDim
	h := f.layerNorm(x, b.ln1)
	qkv := f.linear(h, b.cAttn)
	q := heads(SliceAxis(qkv, -1, AxisRange(0, H)), c.Heads, D)
	k := heads(SliceAxis(qkv, -1, AxisRange(H, 2*H)), c.Heads, D)
	v := heads(SliceAxis(qkv, -1, AxisRange(2*H, 3*H)), c.Heads, D)
	a := attend(l, q, k, v, at, false)
	x = Add(x, f.linear(a, b.attnCProj))
	h = f.layerNorm(x, b.ln2)
	h = activation(c.Activation, f.linear(h, b.cFC))
	return Add(x, f.linear(h, b.mlpCProj))
}
