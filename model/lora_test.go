package model

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/rlhf-project/rlhf/model/safetensors"
)

var loraTokens = [][]int32{{0, 3, 4, 5, 6, 7}, {0, 0, 8, 9, 10, 11}}
var loraMask = [][]int32{{1, 1, 1, 1, 1, 1}, {0, 0, 1, 1, 1, 1}}

// randomizeB gives every lora_B random values (a trained adapter), so the
// adapters change the outputs.
func randomizeB(t testing.TB, m *Model, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, mod := range m.LoRAModules() {
		v := m.Variable(mod + ".lora_B.weight")
		vals := make([]float32, v.Shape().Size())
		for i := range vals {
			vals[i] = float32(rng.NormFloat64() * 0.1)
		}
		if err := setVariableFloat32(v, vals); err != nil {
			t.Fatal(err)
		}
	}
}

// untiedLlama is a llama with an untied LM head, so that lm_head can be a target.
func untiedLlama(t testing.TB) *Model {
	t.Helper()
	cfg, err := NewConfig(ArchLlama, 50, 2, 32, 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxPositions, cfg.InitRange, cfg.TieEmbeddings = 64, 0.2, false
	m, err := New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func maxDiff(a, b [][][]float32) float64 {
	d := 0.0
	for i := range a {
		for j := range a[i] {
			for k := range a[i][j] {
				d = math.Max(d, math.Abs(float64(a[i][j][k]-b[i][j][k])))
			}
		}
	}
	return d
}

// loraCases are models and targets covering both matrix layouts (gpt2's
// Conv1D [in,out], nn.Linear [out,in]), fused projections and the LM head.
func loraCases(t *testing.T) map[string]struct {
	m       *Model
	targets []string
} {
	return map[string]struct {
		m       *Model
		targets []string
	}{
		"gpt2/all-linear":       {tinyModel(t, ArchGPT2), []string{AllLinear}},
		"gpt2/attn.c_attn":      {tinyModel(t, ArchGPT2), []string{"attn.c_attn"}},
		"llama/q,v+lm_head":     {untiedLlama(t), []string{"q_proj", "v_proj", "lm_head"}},
		"bloom/query_key_value": {tinyModel(t, ArchBloom), []string{"query_key_value", "dense_4h_to_h"}},
	}
}

// TestLoRAZeroBGivesBaseLogits: fresh adapters (B = 0) leave the logits
// exactly as the base model's.
func TestLoRAZeroBGivesBaseLogits(t *testing.T) {
	for name, c := range loraCases(t) {
		t.Run(name, func(t *testing.T) {
			base := runLogits(t, c.m, loraTokens, loraMask)
			if err := c.m.AddLoRA(LoRA{Rank: 4, Alpha: 8, Dropout: 0.1, Targets: c.targets}, 3); err != nil {
				t.Fatal(err)
			}
			got := runLogits(t, c.m, loraTokens, loraMask)
			if d := maxDiff(base, got); d != 0 {
				t.Fatalf("fresh adapters changed the logits by %g", d)
			}
		})
	}
}

// TestLoRAMergedLogitsMatch: merging the adapters into the weights gives
// the logits of base + adapters (1e-5), and those differ from the base's.
func TestLoRAMergedLogitsMatch(t *testing.T) {
	for name, c := range loraCases(t) {
		t.Run(name, func(t *testing.T) {
			base := runLogits(t, c.m, loraTokens, loraMask)
			// Dropout is on: inference graphs must not apply it.
			if err := c.m.AddLoRA(LoRA{Rank: 4, Alpha: 8, Dropout: 0.5, Targets: c.targets}, 3); err != nil {
				t.Fatal(err)
			}
			randomizeB(t, c.m, 5)
			adapted := runLogits(t, c.m, loraTokens, loraMask)
			if d := maxDiff(base, adapted); d < 1e-3 {
				t.Fatalf("the adapters changed the logits by only %g", d)
			}
			if err := c.m.MergeLoRA(); err != nil {
				t.Fatal(err)
			}
			if c.m.HasLoRA() {
				t.Fatal("adapters still attached after MergeLoRA")
			}
			merged := runLogits(t, c.m, loraTokens, loraMask)
			if d := maxDiff(adapted, merged); d > 1e-5 {
				t.Fatalf("merged logits differ from base+adapter logits by %g", d)
			}
			for v := range c.m.Store.IterVariables() {
				if strings.Contains(v.Path(), "lora_") {
					t.Errorf("variable %s left after merging", v.Path())
				}
			}
		})
	}
}

// TestLoRAFreezesBase: the base weights are not trainable under adapters,
// the adapters and a score head are.
func TestLoRAFreezesBase(t *testing.T) {
	m := tinyModel(t, ArchLlama)
	if err := m.AddScoreHead(1); err != nil {
		t.Fatal(err)
	}
	if err := m.AddLoRA(LoRA{Rank: 2, Alpha: 4, Targets: []string{"q_proj"}}, 1); err != nil {
		t.Fatal(err)
	}
	var trainable []string
	for v := range m.Store.IterVariables() {
		if v.Trainable {
			trainable = append(trainable, HFName(v.Path()))
		}
	}
	slices.Sort(trainable)
	want := []string{
		"model.layers.0.self_attn.q_proj.lora_A.weight", "model.layers.0.self_attn.q_proj.lora_B.weight",
		"model.layers.1.self_attn.q_proj.lora_A.weight", "model.layers.1.self_attn.q_proj.lora_B.weight",
		ScoreWeight,
	}
	if !slices.Equal(trainable, want) {
		t.Fatalf("trainable variables %v, want %v", trainable, want)
	}
}

func TestLoRABadTargets(t *testing.T) {
	m := tinyModel(t, ArchGPT2)
	err := m.AddLoRA(LoRA{Rank: 2, Alpha: 4, Targets: []string{"q_proj"}}, 1)
	if err == nil || !strings.Contains(err.Error(), `"q_proj"`) || !strings.Contains(err.Error(), "c_attn") {
		t.Fatalf("want an error naming q_proj and the modules there are, got %v", err)
	}
	if m.HasLoRA() {
		t.Fatal("adapters attached after an error")
	}
	for _, bad := range []LoRA{{Rank: 0, Alpha: 1, Targets: []string{AllLinear}}, {Rank: 2, Alpha: 0, Targets: []string{AllLinear}},
		{Rank: 2, Alpha: 1, Dropout: 1, Targets: []string{AllLinear}}, {Rank: 2, Alpha: 1}} {
		if err := m.AddLoRA(bad, 1); err == nil {
			t.Errorf("AddLoRA(%+v) accepted", bad)
		}
	}
}

// saveBase saves m (without adapters) with a tokenizer file as dir/base.
func saveBase(t *testing.T, m *Model, dir string) string {
	t.Helper()
	base := filepath.Join(dir, "base")
	if err := m.Save(base); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "tokenizer.json"), []byte(`{"fake": true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return base
}

// TestLoRASaveLoadBitExact: an adapter saved in PEFT's layout loads back
// over its base bit for bit, and saves again to the same bytes.
func TestLoRASaveLoadBitExact(t *testing.T) {
	for _, arch := range []string{ArchGPT2, ArchLlama} {
		t.Run(arch, func(t *testing.T) {
			dir := t.TempDir()
			m := tinyModel(t, arch)
			if err := m.AddScoreHead(2); err != nil { // a SEQ_CLS adapter: the score head goes along
				t.Fatal(err)
			}
			if err := m.DropLMHead(); err != nil { // as rlhf rm does
				t.Fatal(err)
			}
			base := saveBase(t, m, dir)
			m, err := Load(base)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.AddLoRA(LoRA{Rank: 3, Alpha: 6, Dropout: 0.05, Targets: []string{AllLinear}}, 9); err != nil {
				t.Fatal(err)
			}
			randomizeB(t, m, 4)
			m.LoRABase = base
			m.Meta.Stage = "rm"
			a1 := filepath.Join(dir, "adapter")
			if err := m.Save(a1); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"config.json", "model.safetensors"} {
				if _, err := os.Stat(filepath.Join(a1, f)); err == nil {
					t.Errorf("an adapter folder holds %s", f)
				}
			}
			m2, err := Load(a1)
			if err != nil {
				t.Fatal(err)
			}
			if !m2.HasLoRA() || !slices.Equal(m2.LoRAModules(), m.LoRAModules()) || m2.Meta.Stage != "rm" || !m2.HasScoreHead() {
				t.Fatalf("loaded adapter: modules %v (want %v), stage %q, score head %v", m2.LoRAModules(), m.LoRAModules(), m2.Meta.Stage, m2.HasScoreHead())
			}
			if c := m2.LoRAConfig(); c.Rank != 3 || c.Alpha != 6 || c.Dropout != 0.05 {
				t.Fatalf("loaded config %+v", c)
			}
			for v := range m.Store.IterVariables() {
				w := m2.Store.GetVariable(v.Path())
				if w == nil {
					t.Fatalf("%s missing after loading", v.Path())
				}
				a, _ := variableFloat32(v)
				b, _ := variableFloat32(w)
				for i := range a {
					if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
						t.Fatalf("%s[%d]: %v saved, %v loaded", v.Path(), i, a[i], b[i])
					}
				}
			}
			a2 := filepath.Join(dir, "adapter2")
			if err := m2.Save(a2); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{AdapterWeightsFile, AdapterConfigFile, "tokenizer.json"} {
				b1, err1 := os.ReadFile(filepath.Join(a1, f))
				b2, err2 := os.ReadFile(filepath.Join(a2, f))
				if err1 != nil || err2 != nil || !bytes.Equal(b1, b2) {
					t.Errorf("%s differs after a load → save round trip (%v, %v)", f, err1, err2)
				}
			}
		})
	}
}

// readKeys reads a fixture's keys.txt: name → shape.
func readKeys(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, shape, _ := strings.Cut(sc.Text(), " ")
		keys[name] = shape
	}
	return keys
}

func headerKeys(t *testing.T, path string) map[string]string {
	t.Helper()
	ts, meta, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if meta["format"] != "pt" {
		t.Errorf("%s: metadata format %q, want pt", path, meta["format"])
	}
	keys := map[string]string{}
	for n, tt := range ts {
		keys[n] = fmt.Sprint(tt.Shape)
		if tt.DType != safetensors.F32 {
			t.Errorf("%s: %s is %s, want F32", path, n, tt.DType)
		}
	}
	return keys
}

// TestPEFTFixtures checks adapters against fixtures written from PEFT's
// documented layout (testdata/peft): what rlhf writes has PEFT's tensor
// names, shapes and config fields, and a PEFT-written folder (with keys
// rlhf does not use, and a relative base path) loads.
func TestPEFTFixtures(t *testing.T) {
	cases := []struct {
		fixture string
		model   func(t *testing.T) *Model
	}{
		{"gpt2-causal", func(t *testing.T) *Model { return tinyModel(t, ArchGPT2) }},
		{"llama-seqcls", func(t *testing.T) *Model {
			m := tinyModel(t, ArchLlama)
			if err := m.AddScoreHead(1); err != nil {
				t.Fatal(err)
			}
			return m
		}},
	}
	for _, c := range cases {
		t.Run(c.fixture, func(t *testing.T) {
			fix := filepath.Join("..", "testdata", "peft", c.fixture)
			wantKeys := readKeys(t, filepath.Join(fix, "keys.txt"))
			var want map[string]any
			raw, err := os.ReadFile(filepath.Join(fix, AdapterConfigFile))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			var targets []string
			for _, x := range want["target_modules"].([]any) {
				targets = append(targets, x.(string))
			}
			dir := t.TempDir()
			m := c.model(t)
			base := saveBase(t, m, dir)

			// rlhf writes what the fixture shows.
			m.LoRABase = base
			cfg := LoRA{Rank: int(want["r"].(float64)), Alpha: want["lora_alpha"].(float64), Dropout: want["lora_dropout"].(float64), Targets: targets}
			if err := m.AddLoRA(cfg, 1); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "ours")
			if err := m.Save(out); err != nil {
				t.Fatal(err)
			}
			got := headerKeys(t, filepath.Join(out, AdapterWeightsFile))
			if fmt.Sprint(got) != fmt.Sprint(wantKeys) {
				t.Errorf("tensors\n%v\nwant (PEFT)\n%v", got, wantKeys)
			}
			var ours map[string]any
			raw2, err := os.ReadFile(filepath.Join(out, AdapterConfigFile))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw2, &ours); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"peft_type", "task_type", "r", "lora_alpha", "lora_dropout", "target_modules",
				"fan_in_fan_out", "bias", "modules_to_save", "use_dora", "use_rslora", "inference_mode", "init_lora_weights",
				"rank_pattern", "alpha_pattern", "layers_to_transform", "layers_pattern", "revision"} {
				if fmt.Sprint(ours[k]) != fmt.Sprint(want[k]) {
					t.Errorf("adapter_config.json %s = %v, want (PEFT) %v", k, ours[k], want[k])
				}
			}
			if b, _ := filepath.Abs(base); ours["base_model_name_or_path"] != b {
				t.Errorf("base_model_name_or_path %v, want %s", ours["base_model_name_or_path"], b)
			}

			// A PEFT-written folder loads: the fixture's config (relative
			// base) and its tensors.
			peft := filepath.Join(dir, "peft")
			if err := os.MkdirAll(peft, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(peft, AdapterConfigFile), raw, 0o644); err != nil {
				t.Fatal(err)
			}
			ts, _, err := safetensors.ReadFile(filepath.Join(out, AdapterWeightsFile))
			if err != nil {
				t.Fatal(err)
			}
			if err := safetensors.WriteFile(filepath.Join(peft, AdapterWeightsFile), ts, map[string]string{"format": "pt"}); err != nil {
				t.Fatal(err)
			}
			lm, err := Load(peft)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(lm.LoRAModules(), m.LoRAModules()) || lm.HasScoreHead() != m.HasScoreHead() {
				t.Fatalf("PEFT folder loaded modules %v score %v, want %v %v", lm.LoRAModules(), lm.HasScoreHead(), m.LoRAModules(), m.HasScoreHead())
			}
		})
	}
}

// TestLoadAdapterErrors: folders rlhf cannot apply are refused with the
// file and the reason.
func TestLoadAdapterErrors(t *testing.T) {
	dir := t.TempDir()
	m := tinyModel(t, ArchGPT2)
	base := saveBase(t, m, dir)
	if err := m.AddLoRA(LoRA{Rank: 2, Alpha: 4, Targets: []string{"c_attn"}}, 1); err != nil {
		t.Fatal(err)
	}
	m.LoRABase = base
	good := filepath.Join(dir, "good")
	if err := m.Save(good); err != nil {
		t.Fatal(err)
	}
	write := func(name string, edit func(map[string]any)) string {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(filepath.Join(good, AdapterConfigFile))
		var c map[string]any
		_ = json.Unmarshal(raw, &c)
		edit(c)
		out, _ := json.Marshal(c)
		_ = os.WriteFile(filepath.Join(d, AdapterConfigFile), out, 0o644)
		w, _ := os.ReadFile(filepath.Join(good, AdapterWeightsFile))
		_ = os.WriteFile(filepath.Join(d, AdapterWeightsFile), w, 0o644)
		return d
	}
	for name, c := range map[string]struct {
		edit func(map[string]any)
		want string
	}{
		"ia3":      {func(c map[string]any) { c["peft_type"] = "IA3" }, "peft_type"},
		"dora":     {func(c map[string]any) { c["use_dora"] = true }, "use_dora"},
		"rank":     {func(c map[string]any) { c["r"] = 3 }, "shape"},
		"nobase":   {func(c map[string]any) { c["base_model_name_or_path"] = "gpt2" }, "not a local model folder"},
		"relative": {func(c map[string]any) { c["base_model_name_or_path"] = "../base" }, ""},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(write(name, c.edit))
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), name) {
				t.Fatalf("want an error naming the folder and %q, got %v", c.want, err)
			}
		})
	}
	// --base (LoadAdapter's base) overrides base_model_name_or_path.
	if _, err := LoadAdapter(write("override", func(c map[string]any) { c["base_model_name_or_path"] = "nowhere" }), base); err != nil {
		t.Fatal(err)
	}
}

// TestStoreWeightsAsBF16: a frozen model stored in bfloat16 computes in
// bfloat16 exactly what it computes from float32 weights converted in the
// graph, with half the bytes, and still saves.
func TestStoreWeightsAsBF16(t *testing.T) {
	m := tinyModel(t, ArchLlama)
	before := m.Store.ByteSize()
	m.ComputeDType = dtypes.BFloat16
	want := runLogits(t, m, loraTokens, loraMask)
	if err := m.StoreWeightsAs(dtypes.BFloat16); err != nil {
		t.Fatal(err)
	}
	for _, n := range m.Names() {
		if dt := m.Variable(n).DType(); dt != dtypes.BFloat16 {
			t.Fatalf("%s stored as %s", n, dt)
		}
	}
	if after := m.Store.ByteSize(); after*2 != before {
		t.Errorf("store holds %d bytes in bf16, %d in f32", after, before)
	}
	got := runLogits(t, m, loraTokens, loraMask)
	if d := maxDiff(want, got); d != 0 {
		t.Fatalf("bf16-stored weights change the bf16 logits by %g", d)
	}
	if err := m.Save(t.TempDir()); err != nil {
		t.Fatal(err)
	}
}

// gradients returns the gradient of a causal-LM loss with respect to
// every trainable variable, by variable path, from a training graph.
func gradients(t *testing.T, m *Model, countBarriers *int) map[string][]float32 {
	t.Helper()
	var paths []string
	exec, err := gmodel.NewExec(testBackend(), m.Store, func(scope *gmodel.Scope, tok, msk *Node) []*Node {
		g := tok.Graph()
		m.Store.SetTraining(g, true)
		logits, _ := m.Forward(tok, msk)
		loss := CausalLMLoss(logits, tok, msk)
		grads := scope.BuildTrainableVariablesGradientsGraph(loss)
		paths = paths[:0]
		for v := range scope.IterVariables() {
			if v.Trainable && v.InUseByGraph(g) {
				paths = append(paths, v.Path())
			}
		}
		*countBarriers = 0
		for _, n := range g.Nodes() {
			if n.Type() == NodeTypeOptimizationBarrier {
				*countBarriers++
			}
		}
		out := make([]*Node, len(grads))
		for i, gr := range grads {
			out[i] = ConvertDType(gr, dtypes.Float32)
		}
		return out
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Exec(tensors.FromValue(loraTokens), tensors.FromValue(loraMask))
	if err != nil {
		t.Fatal(err)
	}
	res := map[string][]float32{}
	for i, o := range outs {
		v, err := tensors.CopyFlatData[float32](o)
		if err != nil {
			t.Fatal(err)
		}
		res[paths[i]] = v
	}
	return res
}

// TestGradCheckpointSameGradients: recomputing the blocks in the backward
// pass gives the gradients of keeping their activations (1e-5), with and
// without LoRA adapters.
func TestGradCheckpointSameGradients(t *testing.T) {
	for _, arch := range []string{ArchGPT2, ArchLlama, ArchBloom} {
		for _, lora := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/lora=%v", arch, lora), func(t *testing.T) {
				m := tinyModel(t, arch)
				if lora {
					if err := m.AddLoRA(LoRA{Rank: 2, Alpha: 4, Targets: []string{AllLinear}}, 1); err != nil {
						t.Fatal(err)
					}
					randomizeB(t, m, 2)
				}
				var plain, ckpt int
				want := gradients(t, m, &plain)
				m.GradCheckpoint = true
				got := gradients(t, m, &ckpt)
				if plain != 0 || ckpt < m.Config.Layers {
					t.Fatalf("%d optimization barriers without checkpointing, %d with (want 0 and ≥ %d)", plain, ckpt, m.Config.Layers)
				}
				if len(got) != len(want) || len(want) == 0 {
					t.Fatalf("%d gradients with checkpointing, %d without", len(got), len(want))
				}
				for p, w := range want {
					g := got[p]
					for i := range w {
						if d := math.Abs(float64(g[i] - w[i])); d > 1e-5 {
							t.Fatalf("%s[%d]: gradient %v with checkpointing, %v without", p, i, g[i], w[i])
						}
					}
				}
			})
		}
	}
}
