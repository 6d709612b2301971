package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph ops read best unqualified
	"github.com/gomlx/gomlx/core/tensors"
)

// LoRA (Hu et al. 2021), as PEFT implements it: a targeted linear map
// y = W·x + b becomes y = W·x + b + (alpha/r)·B·A·dropout(x), with A [r, in]
// and B [out, r] trainable and W, b frozen. B starts at zero, so a fresh
// adapter leaves the model's outputs unchanged; A starts Kaiming-uniform
// (PEFT's default, bound 1/sqrt(in)).
//
// The adapters live in the model's store next to the weights they adapt, at
// VariablePath(module + ".lora_A.weight") and ".lora_B.weight", where module
// is the HF module of the adapted weight (PEFT's key without
// "base_model.model."). Every base weight is frozen (not trainable), except
// a score head, which PEFT trains in full for sequence classification
// (modules_to_save). Save writes a model with adapters as a PEFT adapter
// folder (see SaveAdapter); Load reads such a folder over its base model.

// AllLinear is the target that selects every linear map of the blocks
// (PEFT's "all-linear": not the LM head).
const AllLinear = "all-linear"

// PEFT file names and key prefix.
const (
	AdapterConfigFile  = "adapter_config.json"
	AdapterWeightsFile = "adapter_model.safetensors"
	// peftKeyPrefix prefixes every key of adapter_model.safetensors
	// (PeftModel wraps LoraModel wraps the transformers model).
	peftKeyPrefix = "base_model.model."
)

// LoRA configures the adapters AddLoRA attaches.
type LoRA struct {
	// Rank is r, the inner size of each adapter (≥ 1).
	Rank int
	// Alpha is lora_alpha: the update is scaled by Alpha/Rank.
	Alpha float64
	// Dropout is the dropout rate applied to the adapters' input in
	// training graphs (0 ≤ Dropout < 1).
	Dropout float64
	// Targets are PEFT target_modules: a module is adapted when its HF name
	// equals a target or ends with "." + target ("q_proj", "attn.c_attn",
	// "lm_head"); AllLinear selects every linear map of the blocks.
	Targets []string
	// RSLoRA scales by Alpha/sqrt(Rank) instead (PEFT's use_rslora).
	RSLoRA bool
}

// Scaling is the factor of the adapters' update.
func (l LoRA) Scaling() float64 {
	if l.RSLoRA {
		return l.Alpha / math.Sqrt(float64(l.Rank))
	}
	return l.Alpha / float64(l.Rank)
}

// check reports a configuration AddLoRA cannot use.
func (l LoRA) check() error {
	switch {
	case l.Rank < 1:
		return fmt.Errorf("LoRA rank %d: want at least 1", l.Rank)
	case !(l.Alpha > 0) || math.IsInf(l.Alpha, 0):
		return fmt.Errorf("LoRA alpha %g: want a positive number", l.Alpha)
	case !(l.Dropout >= 0 && l.Dropout < 1):
		return fmt.Errorf("LoRA dropout %g: want a rate in [0, 1)", l.Dropout)
	case len(l.Targets) == 0:
		return fmt.Errorf("no LoRA target modules given")
	}
	return nil
}

// loraAdapter is the adapter of one linear map.
type loraAdapter struct {
	weight  string // the adapted matrix, e.g. "model.layers.0.self_attn.q_proj.weight"
	module  string // its module, "model.layers.0.self_attn.q_proj"
	a, b    string // HF-style names of A [r,in] and B [out,r]
	in, out int
	layout  layout
}

// loraState is the set of adapters attached to a model.
type loraState struct {
	cfg      LoRA
	byWeight map[string]*loraAdapter
	list     []*loraAdapter // in weight-table order
}

// HasLoRA reports whether LoRA adapters are attached.
func (m *Model) HasLoRA() bool { return m.lora != nil }

// LoRAConfig returns the configuration of the attached adapters (zero
// without adapters).
func (m *Model) LoRAConfig() LoRA {
	if m.lora == nil {
		return LoRA{}
	}
	c := m.lora.cfg
	c.Targets = slices.Clone(c.Targets)
	return c
}

// LoRAModules lists the HF modules that carry an adapter, in table order.
func (m *Model) LoRAModules() []string {
	if m.lora == nil {
		return nil
	}
	out := make([]string, len(m.lora.list))
	for i, a := range m.lora.list {
		out[i] = a.module
	}
	return out
}

// SetLoRADropout changes the dropout rate of the attached adapters (a
// training choice, not part of what they compute at inference).
func (m *Model) SetLoRADropout(p float64) error {
	if m.lora == nil {
		return fmt.Errorf("model has no LoRA adapters")
	}
	if !(p >= 0 && p < 1) {
		return fmt.Errorf("LoRA dropout %g: want a rate in [0, 1)", p)
	}
	m.lora.cfg.Dropout = p
	return nil
}

// loraCandidates are the matrices LoRA may adapt: every linear map of the
// model except the score head.
func (m *Model) loraCandidates() []weight {
	have := map[string]bool{}
	for _, n := range m.names {
		have[n] = true
	}
	var out []weight
	for _, w := range m.Config.linears(true) {
		if have[w.Name] && w.Name != ScoreWeight {
			out = append(out, w)
		}
	}
	return out
}

// matchTargets returns the candidates the targets select, in table order:
// PEFT's rule (module == target or ends with "."+target), AllLinear for every
// block matrix. A target that selects nothing is an error naming the
// modules there are.
func matchTargets(cands []weight, targets []string) ([]weight, error) {
	sel := map[string]bool{}
	for _, t := range targets {
		t = strings.TrimSpace(t)
		n := 0
		for _, w := range cands {
			mod := w.module()
			if (t == AllLinear && w.Layer >= 0) || mod == t || strings.HasSuffix(mod, "."+t) {
				sel[w.Name] = true
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("LoRA target %q matches no linear module of the model (it has %s, or %s)", t, listNames(moduleSuffixes(cands)), AllLinear)
		}
	}
	var out []weight
	for _, w := range cands {
		if sel[w.Name] {
			out = append(out, w)
		}
	}
	return out, nil
}

// moduleSuffixes are the distinct last components of the candidates'
// modules ("q_proj", "c_attn", "lm_head"), sorted: the names PEFT matches.
func moduleSuffixes(ws []weight) []string {
	seen := map[string]bool{}
	var out []string
	for _, w := range ws {
		mod := w.module()
		s := mod[strings.LastIndexByte(mod, '.')+1:]
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// AddLoRA attaches fresh adapters (A Kaiming-uniform from seed, B zero) to
// the linear maps cfg.Targets select and freezes every base weight but a
// score head. It is an error if adapters are already attached.
func (m *Model) AddLoRA(cfg LoRA, seed uint64) error {
	if m.lora != nil {
		return fmt.Errorf("model already has LoRA adapters")
	}
	if err := cfg.check(); err != nil {
		return err
	}
	ws, err := matchTargets(m.loraCandidates(), cfg.Targets)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 0x10CA))
	vals := map[string][]float32{}
	for _, w := range ws {
		in, out := w.inOut()
		bound := 1 / math.Sqrt(float64(in)) // kaiming_uniform_(a=√5): gain·√(3/fan_in) = 1/√in
		a := make([]float32, cfg.Rank*in)
		for i := range a {
			a[i] = float32((2*rng.Float64() - 1) * bound)
		}
		vals[w.module()+".lora_A.weight"] = a
		vals[w.module()+".lora_B.weight"] = make([]float32, out*cfg.Rank)
	}
	return m.attachLoRA(cfg, ws, vals)
}

// attachLoRA creates the adapter variables of ws with the given values
// (by HF-style name) and freezes the base weights.
func (m *Model) attachLoRA(cfg LoRA, ws []weight, vals map[string][]float32) error {
	st := &loraState{cfg: cfg, byWeight: map[string]*loraAdapter{}}
	st.cfg.Targets = slices.Clone(cfg.Targets)
	for _, w := range ws {
		in, out := w.inOut()
		mod := w.module()
		ad := &loraAdapter{weight: w.Name, module: mod, a: mod + ".lora_A.weight", b: mod + ".lora_B.weight",
			in: in, out: out, layout: w.Layout}
		for _, p := range []struct {
			name string
			dims []int
		}{{ad.a, []int{cfg.Rank, in}}, {ad.b, []int{out, cfg.Rank}}} {
			v := vals[p.name]
			if len(v) != p.dims[0]*p.dims[1] {
				return fmt.Errorf("LoRA tensor %s: %d values for shape %v", p.name, len(v), p.dims)
			}
			if _, err := m.Store.CreateVariable(VariablePath(p.name), tensors.FromFlatDataAndDimensions(v, p.dims...)); err != nil {
				return fmt.Errorf("LoRA tensor %s: %w", p.name, err)
			}
		}
		st.byWeight[w.Name] = ad
		st.list = append(st.list, ad)
	}
	for _, n := range m.names {
		m.Variable(n).SetTrainable(n == ScoreWeight)
	}
	m.lora = st
	return nil
}

// WithoutAdapters returns a view of the model that computes without its
// LoRA adapters (the base model), sharing the store: a PPO reference that
// costs no second copy of the weights. It has its own ComputeDType.
func (m *Model) WithoutAdapters() *Model {
	v := *m
	v.lora = nil
	v.GradCheckpoint = false
	return &v
}

// MergeLoRA folds the adapters into the weights they adapt,
// W += (alpha/r)·B·A (transposed for [in,out] layouts), removes them and
// makes the base weights trainable again: the model then computes what it
// computed with the adapters (up to float32 rounding) and Save writes it
// as a full model.
func (m *Model) MergeLoRA() error {
	if m.lora == nil {
		return nil
	}
	s := m.lora.cfg.Scaling()
	r := m.lora.cfg.Rank
	for _, ad := range m.lora.list {
		a, err := variableFloat32(m.Variable(ad.a))
		if err != nil {
			return fmt.Errorf("%s: %w", ad.a, err)
		}
		b, err := variableFloat32(m.Variable(ad.b))
		if err != nil {
			return fmt.Errorf("%s: %w", ad.b, err)
		}
		wv := m.Variable(ad.weight)
		w, err := variableFloat32(wv)
		if err != nil {
			return fmt.Errorf("%s: %w", ad.weight, err)
		}
		for o := range ad.out {
			for i := range ad.in {
				var d float64
				for k := range r {
					d += float64(b[o*r+k]) * float64(a[k*ad.in+i])
				}
				idx := o*ad.in + i // [out,in]
				if ad.layout == inOut {
					idx = i*ad.out + o
				}
				w[idx] = float32(float64(w[idx]) + s*d)
			}
		}
		if err := setVariableFloat32(wv, w); err != nil {
			return fmt.Errorf("%s: %w", ad.weight, err)
		}
	}
	for _, ad := range m.lora.list {
		for _, n := range []string{ad.a, ad.b} {
			if err := m.Store.DeleteVariable(VariablePath(n)); err != nil {
				return fmt.Errorf("%s: %w", n, err)
			}
		}
	}
	for _, n := range m.names {
		m.Variable(n).SetTrainable(true)
	}
	m.lora = nil
	return nil
}

// adapterOf returns the adapter of weight name, nil when none.
func (m *Model) adapterOf(name string) *loraAdapter {
	if m.lora == nil {
		return nil
	}
	return m.lora.byWeight[name]
}

// withAdapter adds the adapter's update to y = the base map of x, when
// weight has one: y + s·(dropout(x)·Aᵀ)·Bᵀ. Dropout runs in training graphs.
func (m *Model) withAdapter(x, y *Node, weight string) *Node {
	ad := m.adapterOf(weight)
	if ad == nil {
		return y
	}
	g := x.Graph()
	if p := m.lora.cfg.Dropout; p > 0 && m.Store.IsTraining(g) {
		u := m.Store.RandomUniform(g, shapes.Make(dtypes.Float32, x.Shape().Dimensions...))
		keep := LessThan(u, Scalar(g, dtypes.Float32, 1-p))
		x = Where(keep, MulScalar(x, 1/(1-p)), ZerosLike(x))
	}
	a, b := m.w(g, ad.a), m.w(g, ad.b)
	h := DotGeneral(x, []int{x.Rank() - 1}, nil, a, []int{1}, nil) // [...,r]
	d := DotGeneral(h, []int{h.Rank() - 1}, nil, b, []int{1}, nil) // [...,out]
	return Add(y, MulScalar(d, m.lora.cfg.Scaling()))
}

// LoRATargetModules lists the HF modules targets select on this model (as
// AddLoRA would), in table order.
func (m *Model) LoRATargetModules(targets []string) ([]string, error) {
	ws, err := matchTargets(m.loraCandidates(), targets)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.module()
	}
	return out, nil
}
