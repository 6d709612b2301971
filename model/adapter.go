package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/rlhf-project/rlhf/model/safetensors"
)

// A PEFT LoRA adapter folder, as peft's save_pretrained writes it and
// PeftModel.from_pretrained reads it:
//
//	adapter_config.json         {"peft_type": "LORA", "r", "lora_alpha", "target_modules", "base_model_name_or_path", "task_type", ...}
//	adapter_model.safetensors   base_model.model.<module>.lora_A.weight [r, in], ...lora_B.weight [out, r],
//	                            and for SEQ_CLS the score head, base_model.model.score.weight
//	rlhf.json, tokenizer files  rlhf's metadata and the tokenizer, beside them
//
// Module names are those of the *ForCausalLM model (our HF names without
// ".weight"), so keys read "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
// (llama) or "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight" (gpt2,
// whose Conv1D layers PEFT adapts with fan_in_fan_out: A and B keep the
// nn.Linear shapes, the merged update is transposed).

// Task types of adapter_config.json.
const (
	TaskCausalLM = "CAUSAL_LM"
	TaskSeqCls   = "SEQ_CLS"
)

// AdapterConfig is adapter_config.json, with the fields PEFT writes for
// LoRA (fields rlhf does not support must keep their defaults).
type AdapterConfig struct {
	PeftType              string          `json:"peft_type"`
	TaskType              string          `json:"task_type"`
	BaseModelNameOrPath   string          `json:"base_model_name_or_path"`
	Revision              *string         `json:"revision"`
	R                     int             `json:"r"`
	LoraAlpha             float64         `json:"lora_alpha"`
	LoraDropout           float64         `json:"lora_dropout"`
	TargetModules         json.RawMessage `json:"target_modules"`
	FanInFanOut           bool            `json:"fan_in_fan_out"`
	Bias                  string          `json:"bias"`
	ModulesToSave         []string        `json:"modules_to_save"`
	UseRSLoRA             bool            `json:"use_rslora"`
	UseDoRA               bool            `json:"use_dora"`
	InitLoraWeights       bool            `json:"init_lora_weights"`
	InferenceMode         bool            `json:"inference_mode"`
	LayersToTransform     json.RawMessage `json:"layers_to_transform"`
	LayersPattern         json.RawMessage `json:"layers_pattern"`
	RankPattern           map[string]any  `json:"rank_pattern"`
	AlphaPattern          map[string]any  `json:"alpha_pattern"`
	TrainableTokenIndices json.RawMessage `json:"trainable_token_indices,omitempty"`
}

// IsAdapterDir reports whether dir holds a PEFT adapter (adapter_config.json).
func IsAdapterDir(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, AdapterConfigFile))
	return err == nil
}

// ReadAdapterConfig reads dir/adapter_config.json and checks it describes a
// LoRA adapter rlhf can apply.
func ReadAdapterConfig(dir string) (*AdapterConfig, error) {
	p := filepath.Join(dir, AdapterConfigFile)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	c := &AdapterConfig{}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("%s: not JSON: %w", p, err)
	}
	isNull := func(r json.RawMessage) bool { return len(r) == 0 || string(r) == "null" }
	switch {
	case c.PeftType != "LORA":
		return nil, fmt.Errorf("%s: peft_type %q is not supported (only LORA)", p, c.PeftType)
	case c.TaskType != "" && c.TaskType != TaskCausalLM && c.TaskType != TaskSeqCls:
		return nil, fmt.Errorf("%s: task_type %q is not supported (want %s or %s)", p, c.TaskType, TaskCausalLM, TaskSeqCls)
	case c.R < 1:
		return nil, fmt.Errorf("%s: r %d: want at least 1", p, c.R)
	case !(c.LoraAlpha > 0):
		return nil, fmt.Errorf("%s: lora_alpha %g: want a positive number", p, c.LoraAlpha)
	case c.UseDoRA:
		return nil, fmt.Errorf("%s: use_dora (DoRA) is not supported", p)
	case c.Bias != "" && c.Bias != "none":
		return nil, fmt.Errorf("%s: bias %q is not supported (only none)", p, c.Bias)
	case len(c.RankPattern) > 0 || len(c.AlphaPattern) > 0:
		return nil, fmt.Errorf("%s: rank_pattern/alpha_pattern are not supported (one r and lora_alpha for every module)", p)
	case !isNull(c.LayersToTransform) || !isNull(c.TrainableTokenIndices):
		return nil, fmt.Errorf("%s: layers_to_transform/trainable_token_indices are not supported", p)
	case isNull(c.TargetModules):
		return nil, fmt.Errorf("%s: no target_modules", p)
	}
	for _, m := range c.ModulesToSave {
		if m != "score" && m != "classifier" {
			return nil, fmt.Errorf("%s: modules_to_save %q is not supported (only the score head)", p, m)
		}
	}
	return c, nil
}

// targets returns target_modules as a list, or as a regular expression
// (PEFT matches a string other than "all-linear" in full against module names).
func (c *AdapterConfig) targets() (list []string, re *regexp.Regexp, err error) {
	var s string
	if json.Unmarshal(c.TargetModules, &s) == nil {
		if s == AllLinear {
			return []string{AllLinear}, nil, nil
		}
		re, err := regexp.Compile("^(?:" + s + ")$")
		if err != nil {
			return nil, nil, fmt.Errorf("target_modules %q: %w", s, err)
		}
		return nil, re, nil
	}
	if err := json.Unmarshal(c.TargetModules, &list); err != nil {
		return nil, nil, fmt.Errorf("target_modules: want a list of module names or a string: %w", err)
	}
	return list, nil, nil
}

// AdapterBase resolves the base model folder of adapter folder dir:
// base when not empty, else adapter_config.json's base_model_name_or_path,
// taken relative to dir when it is a relative path.
func AdapterBase(dir, base string) (string, error) {
	if base != "" {
		return base, nil
	}
	c, err := ReadAdapterConfig(dir)
	if err != nil {
		return "", err
	}
	b := c.BaseModelNameOrPath
	if b == "" {
		return "", fmt.Errorf("%s: base_model_name_or_path is empty; the base model folder must be given", filepath.Join(dir, AdapterConfigFile))
	}
	if !filepath.IsAbs(b) {
		b = filepath.Join(dir, b)
	}
	if _, err := os.Stat(filepath.Join(b, "config.json")); err != nil {
		return "", fmt.Errorf("%s: base_model_name_or_path %q is not a local model folder (no %s); give the base model folder explicitly",
			filepath.Join(dir, AdapterConfigFile), c.BaseModelNameOrPath, filepath.Join(b, "config.json"))
	}
	return b, nil
}

// LoadAdapter loads the base model (base, or the one adapter_config.json
// names, see AdapterBase) and attaches the LoRA adapter of folder dir. A
// SEQ_CLS adapter brings its score head (set on the base, or added with
// the LM head dropped, as for a reward model). The model's metadata and
// tokenizer files come from dir when it has them, else from the base.
func LoadAdapter(dir, base string) (*Model, error) {
	c, err := ReadAdapterConfig(dir)
	if err != nil {
		return nil, err
	}
	baseDir, err := AdapterBase(dir, base)
	if err != nil {
		return nil, err
	}
	m, err := loadFull(baseDir)
	if err != nil {
		return nil, fmt.Errorf("base model of adapter %s: %w", dir, err)
	}
	wfile := filepath.Join(dir, AdapterWeightsFile)
	raw, _, err := safetensors.ReadFile(wfile)
	if errors.Is(err, os.ErrNotExist) {
		if _, e := os.Stat(filepath.Join(dir, "adapter_model.bin")); e == nil {
			return nil, fmt.Errorf("%s: adapter_model.bin (pickle) is not supported; save the adapter with safe_serialization=True", dir)
		}
	}
	if err != nil {
		return nil, err
	}
	list, re, err := c.targets()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, AdapterConfigFile), err)
	}

	// The score head of a SEQ_CLS adapter (modules_to_save).
	scoreKey := peftKeyPrefix + ScoreWeight
	if t, ok := raw[scoreKey]; ok {
		delete(raw, scoreKey)
		if len(t.Shape) != 2 || t.Shape[1] != m.Config.Hidden {
			return nil, fmt.Errorf("%s: %s has shape %v, want [num_labels, %d]", wfile, scoreKey, t.Shape, m.Config.Hidden)
		}
		vals, err := t.Float32()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", wfile, scoreKey, err)
		}
		if m.HasScoreHead() {
			if s := m.Variable(ScoreWeight).Shape().Dimensions; !slices.Equal(s, t.Shape) {
				return nil, fmt.Errorf("%s: %s has shape %v, the base's score head %v", wfile, scoreKey, t.Shape, s)
			}
		}
		if err := m.setWeight(ScoreWeight, t.Shape, vals); err != nil {
			return nil, err
		}
		m.fileDTypes[ScoreWeight] = t.DType
		m.Config.NumLabels = t.Shape[0]
		if err := m.DropLMHead(); err != nil {
			return nil, err
		}
	} else if c.TaskType == TaskSeqCls && !m.HasScoreHead() {
		return nil, fmt.Errorf("%s: a %s adapter without %s over a base without a score head", wfile, TaskSeqCls, scoreKey)
	}

	// The adapters: every lora_A/lora_B pair of a linear module of the base.
	byModule := map[string]weight{}
	for _, w := range m.loraCandidates() {
		byModule[w.module()] = w
	}
	vals := map[string][]float32{}
	var ws []weight
	var problems []string
	seen := map[string]bool{}
	for key, t := range raw {
		name, ok := strings.CutPrefix(key, peftKeyPrefix)
		var mod string
		if ok {
			mod, ok = strings.CutSuffix(name, ".lora_A.weight")
			if !ok {
				mod, ok = strings.CutSuffix(name, ".lora_B.weight")
			}
		}
		w, known := byModule[mod]
		if !ok || !known {
			problems = append(problems, "unknown tensor "+key)
			continue
		}
		in, out := w.inOut()
		want := []int{c.R, in}
		if strings.HasSuffix(name, ".lora_B.weight") {
			want = []int{out, c.R}
		}
		if !slices.Equal(t.Shape, want) {
			problems = append(problems, fmt.Sprintf("%s has shape %v, want %v", key, t.Shape, want))
			continue
		}
		v, err := t.Float32()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", wfile, key, err)
		}
		vals[name] = v
		if !seen[mod] {
			seen[mod] = true
		}
	}
	for _, w := range m.loraCandidates() {
		mod := w.module()
		if !seen[mod] {
			continue
		}
		_, okA := vals[mod+".lora_A.weight"]
		_, okB := vals[mod+".lora_B.weight"]
		if !okA || !okB {
			problems = append(problems, "module "+mod+" lacks lora_A or lora_B")
			continue
		}
		ws = append(ws, w)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s: the adapter does not fit the %s base %s: %s", wfile, m.Config.Arch, baseDir, listNames(problems))
	}
	if len(ws) == 0 {
		return nil, fmt.Errorf("%s: no lora_A/lora_B tensors", wfile)
	}
	cfg := LoRA{Rank: c.R, Alpha: c.LoraAlpha, Dropout: c.LoraDropout, Targets: list, RSLoRA: c.UseRSLoRA}
	if re != nil { // a regular expression: record the modules it selected
		cfg.Targets = nil
		for _, w := range ws {
			cfg.Targets = append(cfg.Targets, w.module())
		}
	}
	if err := m.attachLoRA(cfg, ws, vals); err != nil {
		return nil, err
	}
	if m.LoRABase, err = filepath.Abs(baseDir); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, MetaFile)); err == nil {
		if m.Meta, err = LoadMeta(dir); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err == nil {
		m.SourceDir = dir
	}
	return m, nil
}

// adapterConfig is the adapter_config.json of the attached adapters.
func (m *Model) adapterConfig() (*AdapterConfig, error) {
	if m.LoRABase == "" {
		return nil, fmt.Errorf("the LoRA adapters have no base model folder recorded (LoRABase)")
	}
	cfg := m.lora.cfg
	targets := cfg.Targets
	if slices.Contains(targets, AllLinear) { // PEFT saves the names all-linear selected
		var ws []weight
		for _, ad := range m.lora.list {
			ws = append(ws, weight{Name: ad.weight})
		}
		targets = moduleSuffixes(ws)
	}
	var uniq []string
	for _, t := range targets {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(uniq, t) {
			uniq = append(uniq, t)
		}
	}
	tm, err := json.Marshal(uniq)
	if err != nil {
		return nil, err
	}
	c := &AdapterConfig{PeftType: "LORA", TaskType: TaskCausalLM, BaseModelNameOrPath: m.LoRABase,
		R: cfg.Rank, LoraAlpha: cfg.Alpha, LoraDropout: cfg.Dropout, TargetModules: tm, Bias: "none",
		UseRSLoRA: cfg.RSLoRA, InitLoraWeights: true, InferenceMode: true,
		LayersToTransform: json.RawMessage("null"), LayersPattern: json.RawMessage("null"),
		RankPattern: map[string]any{}, AlphaPattern: map[string]any{}}
	for _, ad := range m.lora.list {
		if ad.layout == inOut {
			c.FanInFanOut = true // gpt2's Conv1D
		}
	}
	if m.HasScoreHead() {
		c.TaskType = TaskSeqCls
		c.ModulesToSave = []string{"score"}
	}
	return c, nil
}

// SaveAdapter writes the attached adapters to dir as a PEFT adapter folder
// (adapter_config.json, adapter_model.safetensors in float32, with the
// score head for a SEQ_CLS model), plus rlhf.json and the tokenizer files
// of SourceDir. Every file is written to a temporary name and renamed.
func (m *Model) SaveAdapter(dir string) error {
	if m.lora == nil {
		return fmt.Errorf("model has no LoRA adapters to save")
	}
	c, err := m.adapterConfig()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	out := map[string]safetensors.Tensor{}
	add := func(name string) error {
		v := m.Variable(name)
		vals, err := variableFloat32(v)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		t, err := safetensors.FromFloat32(safetensors.F32, v.Shape().Dimensions, vals)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		out[peftKeyPrefix+name] = t
		return nil
	}
	for _, ad := range m.lora.list {
		if err := add(ad.a); err != nil {
			return err
		}
		if err := add(ad.b); err != nil {
			return err
		}
	}
	if m.HasScoreHead() {
		if err := add(ScoreWeight); err != nil {
			return err
		}
	}
	if err := safetensors.WriteFile(filepath.Join(dir, AdapterWeightsFile), out, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, AdapterConfigFile), append(data, '\n')); err != nil {
		return err
	}
	if err := m.Meta.Save(dir); err != nil {
		return err
	}
	return m.copyTokenizer(dir)
}
