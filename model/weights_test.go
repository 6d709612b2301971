package model

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

// tableConfigs are configs covering every optional weight of every
// architecture: biases, tied and untied LM heads, score heads.
func tableConfigs(t *testing.T) map[string]*Config {
	t.Helper()
	cs := map[string]*Config{}
	for _, arch := range []string{ArchGPT2, ArchLlama, ArchQwen2, ArchMistral, ArchBloom} {
		for _, variant := range []string{"base", "untied", "biases", "score"} {
			kv := 0
			if arch != ArchGPT2 && arch != ArchBloom {
				kv = 2
			}
			c, err := NewConfig(arch, 37, 2, 32, 4, kv)
			if err != nil {
				t.Fatal(err)
			}
			c.MaxPositions = 16
			switch variant {
			case "untied":
				c.TieEmbeddings = false
			case "biases":
				c.AttnBias, c.MLPBias = true, true
			case "score":
				c.NumLabels = 1
			}
			cs[arch+"/"+variant] = c
		}
	}
	return cs
}

func TestWeightTableNamesUnique(t *testing.T) {
	for name, c := range tableConfigs(t) {
		seen := map[string]bool{}
		for _, w := range c.weights(true) {
			if seen[w.Name] {
				t.Errorf("%s: %s declared twice", name, w.Name)
			}
			seen[w.Name] = true
			n := 1
			for _, d := range w.Shape {
				n *= d
			}
			if n <= 0 {
				t.Errorf("%s: %s has shape %v", name, w.Name, w.Shape)
			}
		}
	}
}

// TestWeightTableMatchesForward checks that the forward pass (and the score
// head) uses every weight of the table and nothing else.
func TestWeightTableMatchesForward(t *testing.T) {
	for name, c := range tableConfigs(t) {
		t.Run(name, func(t *testing.T) {
			m, err := New(c, 1)
			if err != nil {
				t.Fatal(err)
			}
			table := c.weights(true)
			var want []string
			for _, w := range table {
				want = append(want, w.Name)
			}
			if !slices.Equal(m.Names(), want) {
				t.Fatalf("model weights %v, table %v", m.Names(), want)
			}
			if n := m.Store.NumVariables(); n != len(table) {
				t.Fatalf("store holds %d variables, table %d weights", n, len(table))
			}
			var unused, extra []string
			exec := gmodel.MustNewExec(testBackend(), m.Store, func(_ *gmodel.Scope, tok, msk *Node) []*Node {
				logits, hidden := m.Forward(tok, msk)
				out := []*Node{logits}
				if m.HasScoreHead() {
					out = append(out, m.Score(hidden, msk))
				}
				g := tok.Graph()
				for v := range m.Store.IterVariables() {
					name := HFName(v.Path())
					inTable := slices.Contains(want, name)
					if !inTable {
						extra = append(extra, name)
					} else if !v.InUseByGraph(g) {
						unused = append(unused, name)
					}
				}
				return out
			})
			exec.MustExec(tensors.FromValue([][]int32{{1, 2, 3}}), tensors.FromValue([][]int32{{1, 1, 1}}))
			if len(unused) > 0 || len(extra) > 0 {
				t.Fatalf("table weights the forward pass does not use: %v; variables outside the table: %v", unused, extra)
			}
		})
	}
}

// TestLinears checks what LoRA will read: every linear map's matrix, its
// block, layout and sizes, consistent with its shape.
func TestLinears(t *testing.T) {
	// Module suffixes of one block's linear maps, and their in → out sizes
	// (H 32, I the config's, 4 heads of 8, 2 KV heads for the llama family).
	type lin struct {
		module  string
		in, out int
		layout  layout
	}
	for name, c := range tableConfigs(t) {
		H, I, Dkv := c.Hidden, c.Intermediate, c.KVHeads*c.HeadDim
		var block []lin
		switch c.Arch {
		case ArchGPT2:
			block = []lin{{"attn.c_attn", H, 3 * H, inOut}, {"attn.c_proj", H, H, inOut}, {"mlp.c_fc", H, I, inOut}, {"mlp.c_proj", I, H, inOut}}
		case ArchBloom:
			block = []lin{{"self_attention.query_key_value", H, 3 * H, outIn}, {"self_attention.dense", H, H, outIn},
				{"mlp.dense_h_to_4h", H, I, outIn}, {"mlp.dense_4h_to_h", I, H, outIn}}
		default:
			block = []lin{{"self_attn.q_proj", H, H, outIn}, {"self_attn.k_proj", H, Dkv, outIn}, {"self_attn.v_proj", H, Dkv, outIn},
				{"self_attn.o_proj", H, H, outIn}, {"mlp.gate_proj", H, I, outIn}, {"mlp.up_proj", H, I, outIn}, {"mlp.down_proj", I, H, outIn}}
		}
		ls := c.linears(true)
		perLayer := map[int][]weight{}
		for _, w := range ls {
			perLayer[w.Layer] = append(perLayer[w.Layer], w)
			in, out := w.inOut()
			if w.Layout == inOut && !slices.Equal(w.Shape, []int{in, out}) || w.Layout == outIn && !slices.Equal(w.Shape, []int{out, in}) {
				t.Errorf("%s: %s shape %v, layout %v, in %d out %d", name, w.Name, w.Shape, w.Layout, in, out)
			}
		}
		for l := range c.Layers {
			got := perLayer[l]
			if len(got) != len(block) {
				t.Fatalf("%s layer %d: linears %v, want %d", name, l, got, len(block))
			}
			for i, b := range block {
				w := got[i]
				in, out := w.inOut()
				if !strings.HasSuffix(w.module(), "."+fmt.Sprint(l)+"."+b.module) || in != b.in || out != b.out || w.Layout != b.layout {
					t.Errorf("%s layer %d: %s %v in %d out %d, want %s %v in %d out %d", name, l, w.module(), w.Layout, in, out, b.module, b.layout, b.in, b.out)
				}
			}
		}
		var heads []string
		for _, w := range perLayer[-1] {
			heads = append(heads, w.Name)
		}
		var wantHeads []string
		if !c.TieEmbeddings {
			wantHeads = append(wantHeads, lmHeadWeight)
		}
		if c.NumLabels > 0 {
			wantHeads = append(wantHeads, ScoreWeight)
		}
		if !slices.Equal(heads, wantHeads) {
			t.Errorf("%s: linears outside the blocks %v, want %v", name, heads, wantHeads)
		}
		for _, w := range c.weights(true) {
			if w.Layer >= 0 && !strings.Contains(w.Name, "."+fmt.Sprint(w.Layer)+".") {
				t.Errorf("%s: %s tagged layer %d", name, w.Name, w.Layer)
			}
		}
	}
}

func TestValidateUnknownArch(t *testing.T) {
	c, err := NewConfig(ArchGPT2, 37, 1, 32, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.Arch = "gptj"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `"gptj"`) {
		t.Fatalf("Validate of an unknown model_type: %v", err)
	}
	if _, err := New(c, 1); err == nil {
		t.Fatal("New accepted an unknown model_type")
	}
}
