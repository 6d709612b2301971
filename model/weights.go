package model

import (
	"fmt"
	"slices"
	"strings"
)

// tensorSpec is one expected weight: its Hugging Face name and shape.
type tensorSpec struct {
	Name  string
	Shape []int
	Init  byte // 'n' normal(0, InitRange), '1' ones, '0' zeros
}

// basePrefix is the prefix of the base-model weights in *ForCausalLM and
// *ForSequenceClassification checkpoints (transformers' base_model_prefix).
func (c *Config) basePrefix() string {
	if c.Arch == ArchGPT2 || c.Arch == ArchBloom {
		return "transformer."
	}
	return "model."
}

// weightSpecs lists the tensors a model with this config holds, in HF names
// and layout. lmHead: whether an untied lm_head.weight is part of it.
func (c *Config) weightSpecs(lmHead bool) []tensorSpec {
	H, V, I := c.Hidden, c.VocabSize, c.Intermediate
	p := c.basePrefix()
	var s []tensorSpec
	add := func(name string, init byte, shape ...int) {
		s = append(s, tensorSpec{Name: name, Shape: shape, Init: init})
	}
	norm := func(name string, bias bool) {
		add(name+".weight", '1', H)
		if bias {
			add(name+".bias", '0', H)
		}
	}
	switch c.Arch {
	case ArchGPT2:
		add(p+"wte.weight", 'n', V, H)
		add(p+"wpe.weight", 'n', c.MaxPositions, H)
		for l := range c.Layers {
			b := fmt.Sprintf("%sh.%d.", p, l)
			norm(b+"ln_1", true)
			add(b+"attn.c_attn.weight", 'n', H, 3*H)
			add(b+"attn.c_attn.bias", '0', 3*H)
			add(b+"attn.c_proj.weight", 'n', H, H)
			add(b+"attn.c_proj.bias", '0', H)
			norm(b+"ln_2", true)
			add(b+"mlp.c_fc.weight", 'n', H, I)
			add(b+"mlp.c_fc.bias", '0', I)
			add(b+"mlp.c_proj.weight", 'n', I, H)
			add(b+"mlp.c_proj.bias", '0', H)
		}
		norm(p+"ln_f", true)
	case ArchLlama, ArchQwen2, ArchMistral:
		Dq, Dkv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
		add(p+"embed_tokens.weight", 'n', V, H)
		for l := range c.Layers {
			b := fmt.Sprintf("%slayers.%d.", p, l)
			norm(b+"input_layernorm", false)
			add(b+"self_attn.q_proj.weight", 'n', Dq, H)
			add(b+"self_attn.k_proj.weight", 'n', Dkv, H)
			add(b+"self_attn.v_proj.weight", 'n', Dkv, H)
			add(b+"self_attn.o_proj.weight", 'n', H, Dq)
			if c.AttnBias {
				add(b+"self_attn.q_proj.bias", '0', Dq)
				add(b+"self_attn.k_proj.bias", '0', Dkv)
				add(b+"self_attn.v_proj.bias", '0', Dkv)
				if c.Arch == ArchLlama {
					add(b+"self_attn.o_proj.bias", '0', H)
				}
			}
			norm(b+"post_attention_layernorm", false)
			add(b+"mlp.gate_proj.weight", 'n', I, H)
			add(b+"mlp.up_proj.weight", 'n', I, H)
			add(b+"mlp.down_proj.weight", 'n', H, I)
			if c.MLPBias {
				add(b+"mlp.gate_proj.bias", '0', I)
				add(b+"mlp.up_proj.bias", '0', I)
				add(b+"mlp.down_proj.bias", '0', H)
			}
		}
		norm(p+"norm", false)
	case ArchBloom:
		add(p+"word_embeddings.weight", 'n', V, H)
		norm(p+"word_embeddings_layernorm", true)
		for l := range c.Layers {
			b := fmt.Sprintf("%sh.%d.", p, l)
			norm(b+"input_layernorm", true)
			add(b+"self_attention.query_key_value.weight", 'n', 3*H, H)
			add(b+"self_attention.query_key_value.bias", '0', 3*H)
			add(b+"self_attention.dense.weight", 'n', H, H)
			add(b+"self_attention.dense.bias", '0', H)
			norm(b+"post_attention_layernorm", true)
			add(b+"mlp.dense_h_to_4h.weight", 'n', I, H)
			add(b+"mlp.dense_h_to_4h.bias", '0', I)
			add(b+"mlp.dense_4h_to_h.weight", 'n', H, I)
			add(b+"mlp.dense_4h_to_h.bias", '0', H)
		}
		norm(p+"ln_f", true)
	}
	if lmHead && !c.TieEmbeddings {
		add("lm_head.weight", 'n', V, H)
	}
	if c.NumLabels > 0 {
		add(ScoreWeight, 'n', c.NumLabels, H)
	}
	return s
}

// ScoreWeight is the HF name of the value/reward head, [num_labels, hidden]
// (the *ForSequenceClassification layout TRL uses).
const ScoreWeight = "score.weight"

// embeddingName is the input embedding matrix [V, H].
func (c *Config) embeddingName() string {
	switch c.Arch {
	case ArchGPT2:
		return c.basePrefix() + "wte.weight"
	case ArchBloom:
		return c.basePrefix() + "word_embeddings.weight"
	}
	return c.basePrefix() + "embed_tokens.weight"
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
