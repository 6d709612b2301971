package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/rlhf-project/rlhf/model/safetensors"
	"github.com/rlhf-project/rlhf/model/tokenizer"
)

// Inspection describes a model folder from its files alone: config.json,
// the safetensors headers (shapes and dtypes; no weight is read),
// tokenizer.json and rlhf.json. It is what `rlhf model inspect` prints.
type Inspection struct {
	Dir string `json:"dir"`
	// Arch is config.json's model_type; Architectures its transformers
	// classes.
	Arch          string   `json:"arch"`
	Architectures []string `json:"architectures,omitempty"`
	// Parameters counts the weights in the safetensors files (a tied LM
	// head once, buffers not at all); DTypes splits them by file dtype.
	Parameters int64            `json:"parameters"`
	DTypes     map[string]int64 `json:"dtypes"`
	// TorchDType is config.json's torch_dtype, when it has one.
	TorchDType string `json:"torch_dtype,omitempty"`
	// Context is max_position_embeddings (the learned position table for
	// gpt2, the context length hint otherwise).
	Context       int  `json:"context"`
	VocabSize     int  `json:"vocab_size"`
	Layers        int  `json:"layers"`
	Hidden        int  `json:"hidden"`
	Heads         int  `json:"heads"`
	KVHeads       int  `json:"kv_heads"`
	HeadDim       int  `json:"head_dim"`
	Intermediate  int  `json:"intermediate"`
	SlidingWindow int  `json:"sliding_window,omitempty"`
	TieEmbeddings bool `json:"tie_embeddings"`
	// LMHead is "tied" (shares the input embeddings), "separate" or "none";
	// ScoreLabels the outputs of the score head (1 for a reward model or
	// critic), 0 when there is none.
	LMHead      string `json:"lm_head"`
	ScoreLabels int    `json:"score_labels"`
	// Tokenizer is nil when the folder has no readable tokenizer.json
	// (see Problems).
	Tokenizer *TokenizerInfo `json:"tokenizer,omitempty"`
	// Meta is rlhf.json (defaults when the folder has none: HasMeta false).
	Meta    *Meta `json:"rlhf"`
	HasMeta bool  `json:"has_rlhf_json"`
	// Problems are what would stop rlhf from loading the folder: weights
	// that do not match config.json, a tokenizer larger than the
	// embedding, a missing tokenizer.json.
	Problems []string `json:"problems,omitempty"`
}

// TokenizerInfo is what rlhf uses of tokenizer.json (and
// tokenizer_config.json): ids are -1 when absent.
type TokenizerInfo struct {
	VocabSize int    `json:"vocab_size"`
	EOS       int    `json:"eos"`
	EOSToken  string `json:"eos_token,omitempty"`
	BOS       int    `json:"bos"`
	BOSToken  string `json:"bos_token,omitempty"`
	PAD       int    `json:"pad"`
	AddsBOS   bool   `json:"adds_bos"`
}

// Inspect describes the model folder dir without loading its weights.
func Inspect(dir string) (*Inspection, error) {
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		if _, merr := os.Stat(filepath.Join(dir, "_manifest.json")); merr == nil {
			return nil, fmt.Errorf("%s is a dataset, not a model folder: use rlhf inspect %s", dir, dir)
		}
		return nil, fmt.Errorf("%s: not a model folder (no config.json)", dir)
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	in := &Inspection{Dir: dir, Arch: cfg.Arch, Context: cfg.MaxPositions, VocabSize: cfg.VocabSize,
		Layers: cfg.Layers, Hidden: cfg.Hidden, Heads: cfg.Heads, KVHeads: cfg.KVHeads, HeadDim: cfg.HeadDim,
		Intermediate: cfg.Intermediate, SlidingWindow: cfg.SlidingWindow, TieEmbeddings: cfg.TieEmbeddings,
		DTypes: map[string]int64{}}
	if a, ok := cfg.Raw["architectures"].([]any); ok {
		for _, x := range a {
			if s, ok := x.(string); ok {
				in.Architectures = append(in.Architectures, s)
			}
		}
	}
	if s, ok := cfg.Raw["torch_dtype"].(string); ok {
		in.TorchDType = s
	}
	infos, err := safetensors.ReadDirHeaders(dir)
	if err != nil {
		return nil, err
	}
	in.inspectWeights(cfg, infos)
	if in.Meta, err = LoadMeta(dir); err != nil {
		return nil, err
	}
	_, err = os.Stat(filepath.Join(dir, MetaFile))
	in.HasMeta = err == nil
	tokPath := filepath.Join(dir, "tokenizer.json")
	switch tok, err := tokenizer.Load(tokPath); {
	case errors.Is(err, os.ErrNotExist):
		in.Problems = append(in.Problems, "no tokenizer.json: copy the tokenizer of the base model into the folder")
	case err != nil:
		in.Problems = append(in.Problems, err.Error())
	default:
		ti := &TokenizerInfo{VocabSize: tok.VocabSize(), EOS: tok.EOS(), BOS: tok.BOS(), PAD: tok.PAD(), AddsBOS: tok.AddsBOS()}
		ti.EOSToken, _ = tok.IDToToken(ti.EOS)
		ti.BOSToken, _ = tok.IDToToken(ti.BOS)
		in.Tokenizer = ti
		if ti.VocabSize > cfg.VocabSize {
			in.Problems = append(in.Problems, fmt.Sprintf("the tokenizer has %d tokens but the embedding has %d rows (vocab_size)", ti.VocabSize, cfg.VocabSize))
		}
	}
	return in, nil
}

// inspectWeights counts the parameters by dtype, finds the heads and
// checks the names and shapes against config.json, as Load does.
func (in *Inspection) inspectWeights(cfg *Config, infos map[string]safetensors.Info) {
	prefix := cfg.arch().prefix()
	hasPrefix := false
	for n := range infos {
		if strings.HasPrefix(n, prefix) {
			hasPrefix = true
			break
		}
	}
	byName := map[string]safetensors.Info{}
	for n, t := range infos {
		if isIgnoredBuffer(n) {
			continue
		}
		if !hasPrefix && n != lmHeadWeight && n != ScoreWeight {
			n = prefix + n
		}
		byName[n] = t
	}
	if s, ok := byName[ScoreWeight]; ok && len(s.Shape) == 2 {
		in.ScoreLabels = s.Shape[0]
	}
	_, hasLMHead := byName[lmHeadWeight]
	switch {
	case cfg.TieEmbeddings:
		delete(byName, lmHeadWeight) // a tied copy
		in.LMHead, hasLMHead = "tied", true
	case hasLMHead:
		in.LMHead = "separate"
	case in.ScoreLabels == 0:
		in.LMHead, hasLMHead = "none", true // so that it is reported missing below
	default:
		in.LMHead = "none"
	}
	for _, t := range byName {
		n := int64(t.NumElements())
		in.Parameters += n
		in.DTypes[string(t.DType)] += n
	}
	cfg.NumLabels = in.ScoreLabels
	var missing, badShape []string
	for _, s := range cfg.weights(hasLMHead) {
		t, ok := byName[s.Name]
		if !ok {
			missing = append(missing, s.Name)
			continue
		}
		delete(byName, s.Name)
		if !slicesEqual(t.Shape, s.Shape) {
			badShape = append(badShape, fmt.Sprintf("%s %v (want %v)", s.Name, t.Shape, s.Shape))
		}
	}
	var unknown []string
	for n := range byName {
		unknown = append(unknown, n)
	}
	sort.Strings(unknown)
	if len(missing) > 0 {
		in.Problems = append(in.Problems, "missing tensors: "+listNames(missing))
	}
	if len(unknown) > 0 {
		in.Problems = append(in.Problems, "unknown tensors: "+listNames(unknown))
	}
	if len(badShape) > 0 {
		in.Problems = append(in.Problems, "wrong shapes: "+listNames(badShape))
	}
}

// WriteText prints the inspection for people.
func (in *Inspection) WriteText(w io.Writer) {
	p := func(k, format string, args ...any) { fmt.Fprintf(w, "%-13s"+format+"\n", append([]any{k}, args...)...) }
	p("model", "%s", in.Dir)
	arch := in.Arch
	if len(in.Architectures) > 0 {
		arch += " (" + strings.Join(in.Architectures, ", ") + ")"
	}
	p("architecture", "%s", arch)
	dts := make([]string, 0, len(in.DTypes))
	for d, n := range in.DTypes {
		dts = append(dts, fmt.Sprintf("%s %s", d, thousands(n)))
	}
	sort.Strings(dts)
	p("parameters", "%s (%s)", thousands(in.Parameters), humanCount(in.Parameters))
	dtype := strings.Join(dts, ", ")
	if in.TorchDType != "" {
		dtype += "; config torch_dtype " + in.TorchDType
	}
	p("dtype", "%s", dtype)
	p("context", "%d positions (max_position_embeddings)", in.Context)
	if in.SlidingWindow > 0 {
		p("", "sliding window %d", in.SlidingWindow)
	}
	p("vocab", "%d (embedding rows)", in.VocabSize)
	p("layers", "%d, hidden %d, heads %d (key/value heads %d, head dim %d), MLP %d", in.Layers, in.Hidden, in.Heads, in.KVHeads, in.HeadDim, in.Intermediate)
	switch in.LMHead {
	case "tied":
		p("LM head", "tied to the input embeddings")
	case "separate":
		p("LM head", "separate (lm_head.weight)")
	default:
		p("LM head", "none")
	}
	if in.ScoreLabels > 0 {
		p("score head", "%d output(s) (a reward model or critic)", in.ScoreLabels)
	} else {
		p("score head", "none")
	}
	if t := in.Tokenizer; t != nil {
		p("tokenizer", "vocab %d, EOS %s, BOS %s, PAD %s, adds BOS: %s", t.VocabSize, tokenName(t.EOS, t.EOSToken), tokenName(t.BOS, t.BOSToken), tokenName(t.PAD, ""), yesNo(t.AddsBOS))
	} else {
		p("tokenizer", "none")
	}
	m := in.Meta
	if !in.HasMeta {
		p("rlhf.json", "none (defaults: prompt template %s)", strconv.Quote(m.PromptTemplate))
	} else {
		stage := m.Stage
		if stage == "" {
			stage = "(imported)"
		}
		p("rlhf.json", "stage %s", stage)
		if m.BaseModel != "" {
			p("", "base model %s", m.BaseModel)
		}
		p("", "prompt template %s", strconv.Quote(m.PromptTemplate))
		if m.RewardStd != 0 {
			p("", "reward mean %g, std %g (scores are normalised as (r - mean) / std)", m.RewardMean, m.RewardStd)
		} else if in.ScoreLabels > 0 {
			p("", "reward mean/std not set (scores are used unnormalised)")
		}
	}
	for _, pr := range in.Problems {
		p("problem", "%s", pr)
	}
}

func tokenName(id int, tok string) string {
	if id < 0 {
		return "none"
	}
	if tok == "" {
		return strconv.Itoa(id)
	}
	return fmt.Sprintf("%d %s", id, strconv.Quote(tok))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// thousands formats n with commas: 1234567 → "1,234,567".
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// humanCount is n in K, M or B.
func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return strconv.FormatInt(n, 10)
}

// RunInspect inspects every model folder and prints the result to w
// (JSON: an array of Inspection objects).
func RunInspect(w io.Writer, dirs []string, asJSON bool) error {
	var all []*Inspection
	for _, d := range dirs {
		in, err := Inspect(d)
		if err != nil {
			return err
		}
		all = append(all, in)
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(all)
	}
	for i, in := range all {
		if i > 0 {
			fmt.Fprintln(w)
		}
		in.WriteText(w)
	}
	return nil
}
