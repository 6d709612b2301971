package model

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph ops read best unqualified
)

// bloom is transformers' BLOOM: a LayerNorm after the embedding, ALiBi
// instead of position embeddings, one fused query_key_value projection
// (heads interleaved), nn.Linear projections stored [out, in].
type bloom struct{}

const bloomPrefix = "transformer."

func (bloom) prefix() string    { return bloomPrefix }
func (bloom) embedding() string { return bloomPrefix + "word_embeddings.weight" }

// bloomModel is BloomModel: word_embeddings, word_embeddings_layernorm, the
// blocks h.N, ln_f.
type bloomModel struct {
	wordEmbeddings          string
	wordEmbeddingsLayernorm normW
	h                       []bloomBlock
	lnF                     normW
}

// declare: fields are declared in the order written (checkpoint order).
func (a bloom) declare(c *Config, d *decl) baseModel {
	return &bloomModel{
		wordEmbeddings:          d.embedding(a.embedding(), c.VocabSize, c.Hidden),
		wordEmbeddingsLayernorm: d.norm(bloomPrefix+"word_embeddings_layernorm", c.Hidden, true),
		h:                       declareBlocks(d, c.Layers, func(l int) bloomBlock { return declareBloomBlock(d, c, l) }),
		lnF:                     d.norm(bloomPrefix+"ln_f", c.Hidden, true),
	}
}

func (m *bloomModel) forward(f *fwd, tokens, _ *Node, at *attention) *Node {
	x := f.layerNorm(f.embed(m.wordEmbeddings, tokens), m.wordEmbeddingsLayernorm)
	for l, b := range m.h {
		x = f.block(x, func(x *Node) *Node { return b.forward(f, l, x, at) })
	}
	return f.layerNorm(f.endBlocks(x), m.lnF)
}

// bloomBlock is BloomBlock: input_layernorm, self_attention
// (query_key_value, dense), post_attention_layernorm, mlp (dense_h_to_4h,
// dense_4h_to_h).
type bloomBlock struct {
	inputLayernorm         normW
	queryKeyValue, dense   linearW
	postAttentionLayernorm normW
	denseHTo4h, dense4hToH linearW
}

func declareBloomBlock(d *decl, c *Config, l int) bloomBlock {
	H, I := c.Hidden, c.Intermediate
	p := fmt.Sprintf("%sh.%d.", bloomPrefix, l)
	return bloomBlock{
		inputLayernorm:         d.norm(p+"input_layernorm", H, true),
		queryKeyValue:          d.linear(p+"self_attention.query_key_value", outIn, H, 3*H),
		dense:                  d.linear(p+"self_attention.dense", outIn, H, H),
		postAttentionLayernorm: d.norm(p+"post_attention_layernorm", H, true),
		denseHTo4h:             d.linear(p+"mlp.dense_h_to_4h", outIn, H, I),
		dense4hToH:             d.linear(p+"mlp.dense_4h_to_h", outIn, I, H),
	}
}

func (b bloomBlock) forward(f *fwd, l int, x *Node, at *attention) *Node {
	c := f.c
	ln := f.layerNorm(x, b.inputLayernorm)
	residual := x
	if c.ResidualPostLN {
		residual = ln
	}
	fused := f.linear(ln, b.queryKeyValue)
	B, T := fused.Shape().Dim(0), fused.Shape().Dim(1)
	fused = Reshape(fused, B, T, c.Heads, 3, c.HeadDim)
	part := func(i int) *Node {
		return Transpose(Squeeze(SliceAxis(fused, 3, AxisElem(i)), 3), 1, 2) // [B,n,T,D]
	}
	a := attend(l, part(0), part(1), part(2), at, true)
	x = Add(residual, f.linear(a, b.dense))
	ln = f.layerNorm(x, b.postAttentionLayernorm)
	residual = x
	if c.ResidualPostLN {
		residual = ln
	}
	h := activation(c.Activation, f.linear(ln, b.denseHTo4h))
	return Add(residual, f.linear(h, b.dense4hToH))
}
