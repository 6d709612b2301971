package model

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph ops read best unqualified
)

// llama is transformers' Llama and the models built the same way, Qwen2 and
// Mistral: RMSNorm, rotary positions, grouped-query attention and a gated
// MLP, with nn.Linear projections stored [out, in]. They differ in biases
// (Config.AttnBias, MLPBias; o_proj's only on llama) and in Mistral's
// sliding window (causalMask).
type llama struct{}

const llamaPrefix = "model."

func (llama) prefix() string    { return llamaPrefix }
func (llama) embedding() string { return llamaPrefix + "embed_tokens.weight" }

// llamaModel is LlamaModel: embed_tokens, the decoder layers, norm.
type llamaModel struct {
	embedTokens string
	layers      []llamaLayer
	norm        normW
}

// declare: fields are declared in the order written (checkpoint order).
func (a llama) declare(c *Config, d *decl) baseModel {
	return &llamaModel{
		embedTokens: d.embedding(a.embedding(), c.VocabSize, c.Hidden),
		layers:      declareBlocks(d, c.Layers, func(l int) llamaLayer { return declareLlamaLayer(d, c, l) }),
		norm:        d.norm(llamaPrefix+"norm", c.Hidden, false),
	}
}

func (m *llamaModel) forward(f *fwd, tokens, pos *Node, at *attention) *Node {
	x := f.embed(m.embedTokens, tokens)
	for l, y := range m.layers {
		x = f.block(x, func(x *Node) *Node { return y.forward(f, l, x, pos, at) })
	}
	return f.rmsNorm(f.endBlocks(x), m.norm)
}

// llamaLayer is LlamaDecoderLayer (Qwen2DecoderLayer, MistralDecoderLayer):
// input_layernorm, self_attn (q/k/v/o_proj), post_attention_layernorm,
// mlp (gate/up/down_proj).
type llamaLayer struct {
	inputLayernorm         normW
	q, k, v, o             linearW
	postAttentionLayernorm normW
	gate, up, down         linearW
}

// declareLlamaLayer declares layer l in checkpoint order: each module's
// matrices first, then their biases.
func declareLlamaLayer(d *decl, c *Config, l int) llamaLayer {
	H, I := c.Hidden, c.Intermediate
	Dq, Dkv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	p := fmt.Sprintf("%slayers.%d.", llamaPrefix, l)
	var y llamaLayer
	y.inputLayernorm = d.norm(p+"input_layernorm", H, false)
	y.q = d.matrix(p+"self_attn.q_proj", outIn, H, Dq)
	y.k = d.matrix(p+"self_attn.k_proj", outIn, H, Dkv)
	y.v = d.matrix(p+"self_attn.v_proj", outIn, H, Dkv)
	y.o = d.matrix(p+"self_attn.o_proj", outIn, Dq, H)
	if c.AttnBias {
		d.bias(&y.q)
		d.bias(&y.k)
		d.bias(&y.v)
		if c.Arch == ArchLlama { // attention_bias; qwen2's o_proj has none
			d.bias(&y.o)
		}
	}
	y.postAttentionLayernorm = d.norm(p+"post_attention_layernorm", H, false)
	y.gate = d.matrix(p+"mlp.gate_proj", outIn, H, I)
	y.up = d.matrix(p+"mlp.up_proj", outIn, H, I)
	y.down = d.matrix(p+"mlp.down_proj", outIn, I, H)
	if c.MLPBias {
		d.bias(&y.gate)
		d.bias(&y.up)
		d.bias(&y.down)
	}
	return y
}

func (y llamaLayer) forward(f *fwd, l int, x, pos *Node, at *attention) *Node {
	c := f.c
	D := c.HeadDim
	h := f.rmsNorm(x, y.inputLayernorm)
	q := heads(f.linear(h, y.q), c.Heads, D)
	k := heads(f.linear(h, y.k), c.KVHeads, D)
	v := heads(f.linear(h, y.v), c.KVHeads, D)
	q, k = rope(q, pos, c.RopeTheta), rope(k, pos, c.RopeTheta)
	a := attend(l, q, k, v, at, false)
	x = Add(x, f.linear(a, y.o))
	h = f.rmsNorm(x, y.postAttentionLayernorm)
	gate := activation(c.Activation, f.linear(h, y.gate))
	up := f.linear(h, y.up)
	return Add(x, f.linear(Mul(gate, up), y.down))
}
