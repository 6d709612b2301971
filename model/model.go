// Package model holds Hugging Face-compatible decoder-only language models
// (gpt2, llama, qwen2, mistral, bloom) as GoMLX graphs: loading and saving
// the HF folder layout (config.json, safetensors, rlhf.json metadata),
// the forward pass, the primitives training builds on (token log-probs,
// entropy, masked causal-LM loss), a scalar score head for reward/value
// models, KV-cache generation and backend selection.
//
// Naming conventions: weights live in a GoMLX model.Store, one variable per
// HF tensor, at VariablePath(hfName) ("model.norm.weight" → "/model/norm/weight"),
// in the HF layout (Linear [out, in], gpt2 Conv1D [in, out]); so a Load → Save
// round trip is bit-exact and any HF name can be looked up directly.
//
// Shapes: B batch, T sequence, H hidden, V vocabulary. Token ids are int32
// [B, T] with a mask [B, T] (1 = real token, 0 = padding; any int or bool
// dtype). Padding may be left (what generation uses) or right: positions are
// computed from the mask (cumsum(mask)-1), so both give the same logits at
// real tokens. Outputs at padded positions are finite but meaningless.
//
// The model does not know how it is trained: the train package builds its
// own graphs from Forward, TokenLogProbs, Entropy and CausalLMLoss (see
// docs/model.md for a train-step example).
package model

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/rlhf-project/rlhf/model/safetensors"
)

// Model is a loaded or freshly initialized model.
type Model struct {
	Config *Config
	Meta   *Meta
	// Store holds one variable per weight (see VariablePath). Build GoMLX
	// executors (gmodel.NewExec) over it to run or train the model.
	Store *gmodel.Store
	// SourceDir is the folder the model was loaded from ("" for new models);
	// Save copies tokenizer files from it.
	SourceDir string
	// HasLMHead is false for *ForSequenceClassification checkpoints with an
	// untied head missing (Logits is then an error).
	HasLMHead bool
	// ComputeDType is the dtype of weights and activations inside graphs
	// (variables stay float32 master copies; norms, softmax and log-probs run
	// in float32). Zero means float32. Set with SetComputeDType.
	ComputeDType dtypes.DType
	// GradCheckpoint recomputes each block's activations in the backward
	// pass of training graphs (GoMLX's Node.Checkpoint) instead of keeping
	// them from the forward pass: activation memory of one block instead
	// of all, for about one more forward pass of compute.
	GradCheckpoint bool
	// LoRABase is the folder of the base model that attached LoRA adapters
	// apply to (absolute): Save writes it as the adapter's
	// base_model_name_or_path. Set by LoadAdapter; set it after AddLoRA.
	LoRABase string

	lora       *loraState                   // attached LoRA adapters, nil without (lora.go)
	names      []string                     // HF names of the weights, in table order (Config.weights)
	fileDTypes map[string]safetensors.DType // dtype each tensor was read as; Save writes it back
}

// Names lists the HF names of the model's weights.
func (m *Model) Names() []string { return append([]string(nil), m.names...) }

// HasScoreHead reports whether the model has a score.weight value/reward head.
func (m *Model) HasScoreHead() bool { return m.Config.NumLabels > 0 }

// Variable returns the variable of an HF tensor name, or nil.
func (m *Model) Variable(hfName string) *gmodel.Variable {
	return m.Store.GetVariable(VariablePath(hfName))
}

// New creates a randomly initialized model (normal(0, InitRange) matrices,
// unit norm scales, zero biases) from seed.
func New(cfg *Config, seed uint64) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, Meta: DefaultMeta(), Store: gmodel.NewStore(), HasLMHead: true,
		fileDTypes: map[string]safetensors.DType{}}
	rng := rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15))
	for _, s := range cfg.weights(true) {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		vals := make([]float32, n)
		switch s.Init {
		case initNormal:
			for i := range vals {
				vals[i] = float32(rng.NormFloat64() * cfg.InitRange)
			}
		case initOnes:
			for i := range vals {
				vals[i] = 1
			}
		case initZeros:
		default:
			return nil, fmt.Errorf("weight %s: no initialiser for %v", s.Name, s.Init)
		}
		if err := m.setWeight(s.Name, s.Shape, vals); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Model) setWeight(name string, shape []int, vals []float32) error {
	t := tensors.FromFlatDataAndDimensions(vals, shape...)
	if v := m.Store.GetVariable(VariablePath(name)); v != nil {
		return v.SetValue(t)
	}
	if _, err := m.Store.CreateVariable(VariablePath(name), t); err != nil {
		return fmt.Errorf("weight %s: %w", name, err)
	}
	m.names = append(m.names, name)
	return nil
}

// AddScoreHead adds a score.weight [1, H] head (normal(0, 1/sqrt(H+1))
// init, as TRL's value heads) and sets num_labels to 1. It is an error if
// the model already has one.
func (m *Model) AddScoreHead(seed uint64) error {
	if m.HasScoreHead() {
		return fmt.Errorf("model already has a %s", ScoreWeight)
	}
	H := m.Config.Hidden
	rng := rand.New(rand.NewPCG(seed, 7))
	vals := make([]float32, H)
	std := 1 / sqrtf(float64(H+1))
	for i := range vals {
		vals[i] = float32(rng.NormFloat64() * std)
	}
	if err := m.setWeight(ScoreWeight, []int{1, H}, vals); err != nil {
		return err
	}
	m.Config.NumLabels = 1
	return nil
}

// DropLMHead removes an untied lm_head.weight, as when an SFT checkpoint
// becomes a reward model (*ForSequenceClassification has no LM head): Save
// then no longer writes it. A tied head is the embedding and stays.
func (m *Model) DropLMHead() error {
	if m.Config.TieEmbeddings || !m.HasLMHead {
		return nil
	}
	const name = lmHeadWeight
	for i, n := range m.names {
		if n == name {
			if err := m.Store.DeleteVariable(VariablePath(name)); err != nil {
				return fmt.Errorf("drop %s: %w", name, err)
			}
			m.names = append(m.names[:i:i], m.names[i+1:]...)
			delete(m.fileDTypes, name)
			break
		}
	}
	m.HasLMHead = false
	return nil
}

// Load reads a model folder: config.json, model.safetensors (or shards with
// model.safetensors.index.json) and rlhf.json if present. Weights of any
// float dtype (f32, f16, bf16) become float32 variables. Checkpoints saved
// from the bare base model (names without "transformer."/"model.") load too.
// Unknown or missing tensors are an error listing their names; known
// buffers (attn.bias, rotary_emb.inv_freq) are ignored. dir may be a hub
// id ORG/NAME[@REVISION] in the local Hugging Face cache (ResolveDir).
//
// A PEFT LoRA adapter folder (adapter_config.json) loads as its base model
// with the adapter attached (LoadAdapter with the base it names).
func Load(dir string) (*Model, error) {
	dir, err := ResolveDir(dir)
	if err != nil {
		return nil, err
	}
	if IsAdapterDir(dir) {
		return LoadAdapter(dir, "")
	}
	return loadFull(dir)
}

// loadFull is Load of a full model folder.
func loadFull(dir string) (*Model, error) {
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	raw, err := safetensors.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	meta, err := LoadMeta(dir)
	if err != nil {
		return nil, err
	}
	// Names without the base prefix (saved from GPT2Model, BloomModel...).
	prefix := cfg.arch().prefix()
	hasPrefix := false
	for n := range raw {
		if strings.HasPrefix(n, prefix) {
			hasPrefix = true
			break
		}
	}
	tensorsByName := map[string]safetensors.Tensor{}
	for n, t := range raw {
		if isIgnoredBuffer(n) {
			continue
		}
		if !hasPrefix && n != lmHeadWeight && n != ScoreWeight {
			n = prefix + n
		}
		tensorsByName[n] = t
	}
	if s, ok := tensorsByName[ScoreWeight]; ok {
		if len(s.Shape) != 2 {
			return nil, fmt.Errorf("%s: %s has shape %v, want [num_labels, hidden]", dir, ScoreWeight, s.Shape)
		}
		cfg.NumLabels = s.Shape[0]
	} else {
		cfg.NumLabels = 0
	}
	_, hasLMHead := tensorsByName[lmHeadWeight]
	if cfg.TieEmbeddings {
		delete(tensorsByName, lmHeadWeight) // a tied copy
		hasLMHead = true
	} else if !hasLMHead && cfg.NumLabels == 0 {
		hasLMHead = true // so that it is reported missing below
	}
	specs := cfg.weights(hasLMHead)
	m := &Model{Config: cfg, Meta: meta, Store: gmodel.NewStore(), SourceDir: dir, HasLMHead: hasLMHead,
		fileDTypes: map[string]safetensors.DType{}}
	var missing, badShape []string
	for _, s := range specs {
		t, ok := tensorsByName[s.Name]
		if !ok {
			missing = append(missing, s.Name)
			continue
		}
		delete(tensorsByName, s.Name)
		if !slicesEqual(t.Shape, s.Shape) {
			badShape = append(badShape, fmt.Sprintf("%s %v (want %v)", s.Name, t.Shape, s.Shape))
			continue
		}
		vals, err := t.Float32()
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %s: %w", dir, s.Name, err)
		}
		if err := m.setWeight(s.Name, s.Shape, vals); err != nil {
			return nil, err
		}
		m.fileDTypes[s.Name] = t.DType
	}
	var unknown []string
	for n := range tensorsByName {
		unknown = append(unknown, n)
	}
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, "missing tensors: "+listNames(missing))
	}
	if len(unknown) > 0 {
		problems = append(problems, "unknown tensors: "+listNames(unknown))
	}
	if len(badShape) > 0 {
		problems = append(problems, "wrong shapes: "+listNames(badShape))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s: weights do not match a %s model with %d layers, hidden %d: %s",
			dir, cfg.Arch, cfg.Layers, cfg.Hidden, strings.Join(problems, "; "))
	}
	return m, nil
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// SaveOptions tune Save. The zero value saves every tensor in the dtype it
// was loaded as (float32 for new ones) into one file of up to 5 GB.
type SaveOptions struct {
	// DType forces every tensor to F32, F16 or BF16 ("" keeps each tensor's dtype).
	DType safetensors.DType
	// MaxShardBytes splits model.safetensors into shards above this size (0: 5 GB).
	MaxShardBytes int64
}

// Save writes the model to dir in HF layout: config.json, model.safetensors
// (or shards + index), rlhf.json, and the tokenizer files of SourceDir.
// Every file is written to a temporary name and renamed into place.
//
// A model with LoRA adapters attached is saved as a PEFT adapter folder
// over LoRABase (SaveAdapter; opts do not apply); MergeLoRA first to save
// a full model.
func (m *Model) Save(dir string, opts ...SaveOptions) error {
	if m.lora != nil {
		return m.SaveAdapter(dir)
	}
	var o SaveOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	out := map[string]safetensors.Tensor{}
	for _, name := range m.names {
		v := m.Variable(name)
		vals, err := variableFloat32(v)
		if err != nil {
			return fmt.Errorf("weight %s: %w", name, err)
		}
		dt := o.DType
		if dt == "" {
			dt = m.fileDTypes[name]
		}
		if dt == "" {
			dt = safetensors.F32
		}
		t, err := safetensors.FromFloat32(dt, v.Shape().Dimensions, vals)
		if err != nil {
			return fmt.Errorf("weight %s: %w", name, err)
		}
		out[name] = t
	}
	if err := safetensors.WriteDir(dir, out, o.MaxShardBytes); err != nil {
		return err
	}
	if len(m.names) > 0 {
		torchName := map[safetensors.DType]string{safetensors.F32: "float32", safetensors.BF16: "bfloat16", safetensors.F16: "float16"}
		if n, ok := torchName[out[m.names[0]].DType]; ok {
			if m.Config.Raw == nil {
				m.Config.Raw = map[string]any{}
			}
			m.Config.Raw["torch_dtype"] = n
		}
	}
	cfgJSON, err := m.Config.JSON()
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, "config.json"), cfgJSON); err != nil {
		return err
	}
	if err := m.Meta.Save(dir); err != nil {
		return err
	}
	return m.copyTokenizer(dir)
}

// copyTokenizer copies the tokenizer files of SourceDir into dir.
func (m *Model) copyTokenizer(dir string) error {
	if m.SourceDir != "" {
		src, _ := filepath.Abs(m.SourceDir)
		dst, _ := filepath.Abs(dir)
		if src != dst {
			for _, f := range TokenizerFiles {
				if err := copyIfExists(filepath.Join(m.SourceDir, f), filepath.Join(dir, f)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// TokenizerFiles are the tokenizer files of a model folder (those that
// exist); Save copies them along from SourceDir.
var TokenizerFiles = []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
	"vocab.json", "merges.txt", "tokenizer.model", "generation_config.json", "chat_template.jinja"}

func copyIfExists(src, dst string) error {
	f, err := os.Open(src)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	return writeFileAtomic(dst, data)
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Meta is rlhf.json: what every rlhf command needs to know about a
// checkpoint beyond the HF files.
type Meta struct {
	// PromptTemplate says how an instruction is put before the response:
	// TemplateModel ("model", also "") renders it with the tokenizer's chat
	// template when it has one (infer.Encoder), else with
	// DefaultPromptTemplate; TemplateNone ("none") feeds it as it is; any
	// other text wraps it, "{prompt}" standing for the instruction.
	PromptTemplate string `json:"prompt_template"`
	// Stage that produced the checkpoint: "init", "sft", "rm", "ppo", "grpo",
	// "rloo", "reinforce++" or "" (imported).
	Stage string `json:"stage,omitempty"`
	// BaseModel is the folder or hub name the checkpoint started from.
	BaseModel string `json:"base_model,omitempty"`
	// RewardMean and RewardStd normalize a reward model's scores
	// ((r - mean) / std); std 0 means not computed.
	RewardMean float64 `json:"reward_mean,omitempty"`
	RewardStd  float64 `json:"reward_std,omitempty"`
	// Extra holds anything else a stage wants to remember (hyperparameters, steps).
	Extra map[string]any `json:"extra,omitempty"`
}

// DefaultPromptTemplate is the InstructGPT/Anthropic-HH style wrapping.
const DefaultPromptTemplate = "Human: {prompt}\n\nAssistant: "

// MetaFile is the name of the metadata file beside config.json.
const MetaFile = "rlhf.json"

// Template choices besides a text with {prompt} (Meta.PromptTemplate, --template).
const (
	// TemplateModel is the model's own chat template (tokenizer_config.json's
	// chat_template or chat_template.jinja) when it has one, else the
	// checkpoint's rlhf.json template (DefaultPromptTemplate when that is
	// TemplateModel too).
	TemplateModel = "model"
	// TemplateNone feeds the instruction as it is.
	TemplateNone = "none"
)

// CheckTemplate checks a prompt template: "", TemplateModel, TemplateNone,
// or a text with {prompt}.
func CheckTemplate(t string) error {
	if t == "" || t == TemplateModel || t == TemplateNone || strings.Contains(t, "{prompt}") {
		return nil
	}
	return fmt.Errorf("prompt template %q: want %s, %s, or a text with {prompt} where the instruction goes", t, TemplateNone, TemplateModel)
}

// IsModelTemplate reports whether t asks for the model's chat template.
func IsModelTemplate(t string) bool { return t == "" || t == TemplateModel }

// DefaultMeta is the metadata of a checkpoint without rlhf.json: the
// model's chat template, if any, formats prompts.
func DefaultMeta() *Meta { return &Meta{PromptTemplate: TemplateModel} }

// FormatPrompt applies a {prompt} template to an instruction: TemplateNone
// leaves it as it is; TemplateModel (the caller found no chat template)
// uses DefaultPromptTemplate.
func (m *Meta) FormatPrompt(prompt string) string {
	t := m.PromptTemplate
	switch t {
	case TemplateNone:
		return prompt
	case "", TemplateModel:
		t = DefaultPromptTemplate
	}
	return strings.ReplaceAll(t, "{prompt}", prompt)
}

// LoadMeta reads dir/rlhf.json, or returns DefaultMeta if there is none.
func LoadMeta(dir string) (*Meta, error) {
	p := filepath.Join(dir, MetaFile)
	data, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return DefaultMeta(), nil
	} else if err != nil {
		return nil, err
	}
	m := DefaultMeta()
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if err := CheckTemplate(m.PromptTemplate); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return m, nil
}

// Save writes dir/rlhf.json atomically.
func (m *Meta) Save(dir string) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, MetaFile), append(data, '\n'))
}
