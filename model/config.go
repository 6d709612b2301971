package model

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rlhf-project/rlhf/option"
)

// Architectures supported, as spelled in config.json's model_type.
const (
	ArchGPT2    = "gpt2"
	ArchLlama   = "llama"
	ArchQwen2   = "qwen2"
	ArchMistral = "mistral"
	ArchBloom   = "bloom"
)

// Config is a Hugging Face config.json normalized across architectures.
// Sizes are counts; Raw keeps every key of the original file so Save writes
// back what it read (plus what changed).
type Config struct {
	Arch           string  // model_type: gpt2, llama, qwen2, mistral or bloom
	VocabSize      int     // vocab_size
	Hidden         int     // hidden size (n_embd, hidden_size)
	Layers         int     // number of transformer blocks
	Heads          int     // attention heads
	KVHeads        int     // key/value heads (GQA); = Heads when not grouped
	HeadDim        int     // per-head size; Hidden/Heads unless config says head_dim
	Intermediate   int     // MLP inner size
	MaxPositions   int     // learned position table size (gpt2); context length hint otherwise
	NormEps        float64 // LayerNorm/RMSNorm epsilon
	RopeTheta      float64 // RoPE base (llama family); default 10000
	TieEmbeddings  bool    // LM head shares the input embedding matrix
	AttnBias       bool    // q/k/v projections have biases (qwen2 always; llama if attention_bias)
	MLPBias        bool    // llama mlp_bias
	Activation     string  // gelu_new, gelu, silu ...
	ResidualPostLN bool    // bloom apply_residual_connection_post_layernorm
	BOS, EOS, Pad  int     // special token ids; -1 when absent
	NumLabels      int     // 1 for reward/value models with a score head, else 0
	InitRange      float64 // initializer_range (std of random init), default 0.02
	SlidingWindow  int     // mistral sliding_window: a token sees the previous SlidingWindow-1 tokens; 0 = full attention

	Raw map[string]any // the config.json as read
}

func getNum(raw map[string]any, keys ...string) (float64, bool) {
	for _, k := range keys {
		if v, ok := raw[k]; ok && v != nil {
			switch x := v.(type) {
			case float64:
				return x, true
			case []any: // eos_token_id may be a list
				if len(x) > 0 {
					if f, ok := x[0].(float64); ok {
						return f, true
					}
				}
			}
		}
	}
	return 0, false
}

func getInt(raw map[string]any, def int, keys ...string) int {
	if v, ok := getNum(raw, keys...); ok {
		return int(v)
	}
	return def
}

func getBool(raw map[string]any, key string, def bool) bool {
	if v, ok := raw[key].(bool); ok {
		return v
	}
	return def
}

// ParseConfig normalizes a config.json's content. source names the file in errors.
func ParseConfig(data []byte, source string) (*Config, error) {
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: not JSON: %w", source, err)
	}
	c := &Config{Raw: raw}
	c.Arch, _ = raw["model_type"].(string)
	c.VocabSize = getInt(raw, 0, "vocab_size")
	c.BOS = getInt(raw, -1, "bos_token_id")
	c.EOS = getInt(raw, -1, "eos_token_id")
	c.Pad = getInt(raw, -1, "pad_token_id")
	if v, ok := getNum(raw, "initializer_range"); ok {
		c.InitRange = v
	} else {
		c.InitRange = 0.02
	}
	if v, ok := getNum(raw, "num_labels"); ok {
		c.NumLabels = int(v)
	} else if m, ok := raw["id2label"].(map[string]any); ok {
		c.NumLabels = len(m)
	}
	switch c.Arch {
	case ArchGPT2:
		c.Hidden = getInt(raw, 768, "n_embd", "hidden_size")
		c.Layers = getInt(raw, 12, "n_layer", "num_hidden_layers")
		c.Heads = getInt(raw, 12, "n_head", "num_attention_heads")
		c.Intermediate = getInt(raw, 4*c.Hidden, "n_inner")
		c.MaxPositions = getInt(raw, 1024, "n_positions", "max_position_embeddings")
		c.NormEps, _ = getNum(raw, "layer_norm_epsilon")
		if c.NormEps == 0 {
			c.NormEps = 1e-5
		}
		c.Activation, _ = raw["activation_function"].(string)
		if c.Activation == "" {
			c.Activation = "gelu_new"
		}
		c.TieEmbeddings = getBool(raw, "tie_word_embeddings", true)
		if getBool(raw, "scale_attn_by_inverse_layer_idx", false) || getBool(raw, "reorder_and_upcast_attn", false) {
			return nil, fmt.Errorf("%s: gpt2 options scale_attn_by_inverse_layer_idx/reorder_and_upcast_attn are not supported", source)
		}
		if !getBool(raw, "scale_attn_weights", true) {
			return nil, fmt.Errorf("%s: gpt2 scale_attn_weights=false is not supported", source)
		}
	case ArchLlama, ArchQwen2, ArchMistral:
		c.Hidden = getInt(raw, 0, "hidden_size")
		c.Layers = getInt(raw, 0, "num_hidden_layers")
		c.Heads = getInt(raw, 0, "num_attention_heads")
		c.KVHeads = getInt(raw, c.Heads, "num_key_value_heads")
		c.HeadDim = getInt(raw, 0, "head_dim")
		c.Intermediate = getInt(raw, 0, "intermediate_size")
		c.MaxPositions = getInt(raw, 2048, "max_position_embeddings")
		c.NormEps, _ = getNum(raw, "rms_norm_eps")
		if c.NormEps == 0 {
			c.NormEps = 1e-6
		}
		c.RopeTheta, _ = getNum(raw, "rope_theta")
		if c.RopeTheta == 0 {
			c.RopeTheta = 10000
		}
		c.Activation, _ = raw["hidden_act"].(string)
		if c.Activation == "" {
			c.Activation = "silu"
		}
		c.TieEmbeddings = getBool(raw, "tie_word_embeddings", false)
		c.AttnBias = c.Arch == ArchQwen2 || getBool(raw, "attention_bias", false)
		c.MLPBias = getBool(raw, "mlp_bias", false)
		if c.Arch == ArchMistral {
			c.SlidingWindow = getInt(raw, 0, "sliding_window")
		}
		// Qwen2 applies its window only to layers ≥ max_window_layers.
		if c.Arch == ArchQwen2 && getBool(raw, "use_sliding_window", false) && getInt(raw, c.Layers, "max_window_layers") < c.Layers {
			return nil, fmt.Errorf("%s: qwen2 use_sliding_window with max_window_layers < num_hidden_layers is not supported", source)
		}
		if rs, ok := raw["rope_scaling"]; ok && rs != nil {
			return nil, fmt.Errorf("%s: rope_scaling %v is not supported (only plain RoPE with rope_theta)", source, rs)
		}
	case ArchBloom:
		c.Hidden = getInt(raw, 0, "hidden_size", "n_embed")
		c.Layers = getInt(raw, 0, "n_layer", "num_hidden_layers")
		c.Heads = getInt(raw, 0, "n_head", "num_attention_heads")
		c.Intermediate = 4 * c.Hidden
		c.MaxPositions = getInt(raw, 2048, "seq_length", "max_position_embeddings")
		c.NormEps, _ = getNum(raw, "layer_norm_epsilon")
		if c.NormEps == 0 {
			c.NormEps = 1e-5
		}
		c.Activation = "bloom_gelu"
		c.TieEmbeddings = getBool(raw, "tie_word_embeddings", true)
		c.ResidualPostLN = getBool(raw, "apply_residual_connection_post_layernorm", false)
	case "":
		return nil, fmt.Errorf("%s: no model_type", source)
	default:
		return nil, fmt.Errorf("%s: model_type %q is not supported (want gpt2, llama, qwen2, mistral or bloom)", source, c.Arch)
	}
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.Heads > 0 && c.HeadDim == 0 {
		c.HeadDim = c.Hidden / c.Heads
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return c, nil
}

// Validate checks sizes are positive and consistent.
func (c *Config) Validate() error {
	switch {
	case architectures[c.Arch] == nil:
		return fmt.Errorf("model_type %q is not supported (want gpt2, llama, qwen2, mistral or bloom)", c.Arch)
	case c.VocabSize <= 0 || c.Hidden <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.Intermediate <= 0:
		return fmt.Errorf("%s config needs positive vocab_size, hidden size, layers, heads and intermediate size (got %d, %d, %d, %d, %d)",
			c.Arch, c.VocabSize, c.Hidden, c.Layers, c.Heads, c.Intermediate)
	case c.Heads%c.KVHeads != 0:
		return fmt.Errorf("num_attention_heads %d is not a multiple of num_key_value_heads %d", c.Heads, c.KVHeads)
	case c.Arch != ArchLlama && c.Arch != ArchQwen2 && c.Arch != ArchMistral && c.HeadDim*c.Heads != c.Hidden:
		return fmt.Errorf("hidden size %d is not divisible by %d heads", c.Hidden, c.Heads)
	case c.RopeTheta == 0 && (c.Arch == ArchLlama || c.Arch == ArchQwen2 || c.Arch == ArchMistral):
		return fmt.Errorf("rope_theta must be positive")
	case c.HeadDim%2 != 0 && (c.Arch == ArchLlama || c.Arch == ArchQwen2 || c.Arch == ArchMistral):
		return fmt.Errorf("head_dim %d must be even for RoPE", c.HeadDim)
	}
	return nil
}

// LoadConfig reads dir/config.json; dir may be a hub id (ResolveDir).
func LoadConfig(dir string) (*Config, error) {
	dir, err := ResolveDir(dir)
	if err != nil {
		return nil, err
	}
	p := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return ParseConfig(data, p)
}

// architectureName is the transformers class for config.json's "architectures".
func (c *Config) architectureName() string {
	names := map[string][2]string{
		ArchGPT2:    {"GPT2LMHeadModel", "GPT2ForSequenceClassification"},
		ArchLlama:   {"LlamaForCausalLM", "LlamaForSequenceClassification"},
		ArchQwen2:   {"Qwen2ForCausalLM", "Qwen2ForSequenceClassification"},
		ArchMistral: {"MistralForCausalLM", "MistralForSequenceClassification"},
		ArchBloom:   {"BloomForCausalLM", "BloomForSequenceClassification"},
	}[c.Arch]
	if c.NumLabels > 0 {
		return names[1]
	}
	return names[0]
}

// JSON renders config.json: Raw updated with the normalized fields, so a
// config built by NewConfig is complete and one read from disk changes only
// where the model changed (e.g. num_labels after adding a score head).
func (c *Config) JSON() ([]byte, error) {
	raw := map[string]any{}
	for k, v := range c.Raw {
		raw[k] = v
	}
	raw["model_type"] = c.Arch
	raw["vocab_size"] = c.VocabSize
	raw["architectures"] = []string{c.architectureName()}
	raw["tie_word_embeddings"] = c.TieEmbeddings
	raw["initializer_range"] = c.InitRange
	setID := func(key string, v int) {
		if v >= 0 {
			raw[key] = v
		}
	}
	setID("bos_token_id", c.BOS)
	setID("eos_token_id", c.EOS)
	setID("pad_token_id", c.Pad)
	if c.NumLabels > 0 {
		raw["num_labels"] = c.NumLabels
		id2label, label2id := map[string]string{}, map[string]int{}
		for i := range c.NumLabels {
			id2label[fmt.Sprint(i)] = fmt.Sprintf("LABEL_%d", i)
			label2id[fmt.Sprintf("LABEL_%d", i)] = i
		}
		raw["id2label"], raw["label2id"] = id2label, label2id
	} else {
		delete(raw, "num_labels")
		delete(raw, "id2label")
		delete(raw, "label2id")
	}
	switch c.Arch {
	case ArchGPT2:
		raw["n_embd"], raw["n_layer"], raw["n_head"] = c.Hidden, c.Layers, c.Heads
		raw["n_positions"], raw["layer_norm_epsilon"] = c.MaxPositions, c.NormEps
		if c.Intermediate != 4*c.Hidden {
			raw["n_inner"] = c.Intermediate
		}
		if _, ok := raw["n_ctx"]; !ok {
			raw["n_ctx"] = c.MaxPositions
		}
		raw["activation_function"] = c.Activation
	case ArchLlama, ArchQwen2, ArchMistral:
		raw["hidden_size"], raw["num_hidden_layers"] = c.Hidden, c.Layers
		raw["num_attention_heads"], raw["num_key_value_heads"] = c.Heads, c.KVHeads
		raw["intermediate_size"], raw["max_position_embeddings"] = c.Intermediate, c.MaxPositions
		raw["rms_norm_eps"], raw["rope_theta"], raw["hidden_act"] = c.NormEps, c.RopeTheta, c.Activation
		if c.HeadDim != c.Hidden/c.Heads {
			raw["head_dim"] = c.HeadDim
		}
		if c.Arch == ArchLlama {
			raw["attention_bias"], raw["mlp_bias"] = c.AttnBias, c.MLPBias
		}
		if c.Arch == ArchMistral {
			if c.SlidingWindow > 0 {
				raw["sliding_window"] = c.SlidingWindow
			} else {
				raw["sliding_window"] = nil
			}
		}
	case ArchBloom:
		raw["hidden_size"], raw["n_layer"], raw["n_head"] = c.Hidden, c.Layers, c.Heads
		raw["layer_norm_epsilon"] = c.NormEps
		raw["apply_residual_connection_post_layernorm"] = c.ResidualPostLN
	}
	return json.MarshalIndent(raw, "", "  ")
}

// NewConfig returns a complete config for a fresh model of the given
// architecture and sizes (kvHeads 0 means = heads). Used by `rlhf model init`.
func NewConfig(arch string, vocab, layers, hidden, heads, kvHeads int) (*Config, error) {
	if kvHeads == 0 {
		kvHeads = heads
	}
	c := &Config{Arch: arch, VocabSize: vocab, Hidden: hidden, Layers: layers, Heads: heads, KVHeads: kvHeads,
		InitRange: 0.02, BOS: -1, EOS: -1, Pad: -1, MaxPositions: 1024, Raw: map[string]any{}}
	if heads > 0 {
		c.HeadDim = hidden / heads
	}
	switch arch {
	case ArchGPT2:
		c.Intermediate, c.NormEps, c.Activation, c.TieEmbeddings = 4*hidden, 1e-5, "gelu_new", true
		c.KVHeads = heads
	case ArchLlama, ArchMistral:
		c.Intermediate, c.NormEps, c.RopeTheta, c.Activation = (8*hidden/3+63)/64*64, 1e-6, 10000, "silu"
	case ArchQwen2:
		c.Intermediate, c.NormEps, c.RopeTheta, c.Activation, c.AttnBias = (8*hidden/3+63)/64*64, 1e-6, 1000000, "silu", true
		c.TieEmbeddings = true
	case ArchBloom:
		c.Intermediate, c.NormEps, c.Activation, c.TieEmbeddings = 4*hidden, 1e-5, "bloom_gelu", true
		c.KVHeads = heads
	default:
		return nil, option.Errorf("{Arch} %q: want gpt2, llama, qwen2, mistral or bloom", arch)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}
