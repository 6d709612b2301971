package train

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/tokenizer"
)

func byteEncoder(maxLen int, policy string) *infer.Encoder {
	return &infer.Encoder{Tok: tokenizer.NewByteLevel(), Meta: model.DefaultMeta(), MaxLen: maxLen, Truncate: policy}
}

func TestTruncationPolicies(t *testing.T) {
	prompt := strings.Repeat("p", 40)
	var st infer.TruncStats
	e, ok := byteEncoder(64, infer.TruncateLeft).Encode(prompt, "answer", &st)
	if !ok || len(e.Tokens) != 64 || st.PromptTruncated != 1 || st.ResponseTruncated != 0 {
		t.Fatalf("left: %d tokens, stats %+v", len(e.Tokens), st)
	}
	// The end of the template and the whole response + EOS survive.
	if got := string(bytesOf(e.Tokens[e.PromptLen-11 : len(e.Tokens)-1])); got != "Assistant: answer" {
		t.Fatalf("left truncation kept %q", got)
	}
	// A response longer than the budget is cut on the right and counted.
	st = infer.TruncStats{}
	e, _ = byteEncoder(64, infer.TruncateLeft).Encode("q", strings.Repeat("r", 100), &st)
	if len(e.Tokens) != 64 || st.ResponseTruncated != 1 || e.PromptLen < 8 {
		t.Fatalf("long response: %d tokens, prompt %d, stats %+v", len(e.Tokens), e.PromptLen, st)
	}
	st = infer.TruncStats{}
	if _, ok := byteEncoder(64, infer.TruncateDrop).Encode(prompt, "answer", &st); ok || st.Dropped != 1 {
		t.Fatalf("drop: kept, stats %+v", st)
	}
}

func bytesOf(ids []int32) []byte {
	b := make([]byte, len(ids))
	for i, id := range ids {
		b[i] = byte(id)
	}
	return b
}

func TestPackAndBatch(t *testing.T) {
	enc := byteEncoder(64, infer.TruncateLeft)
	a, _ := enc.Encode("a", "xy", nil)
	b, _ := enc.Encode("b", "z", nil)
	rows := Pack([]infer.Encoded{a, b, a}, 64)
	if len(rows) != 2 || len(rows[0].Tokens) != len(a.Tokens)+len(b.Tokens) {
		t.Fatalf("packed into %d rows", len(rows))
	}
	batch := MakeBatch(rows, 3, 64, 0)
	// Loss tokens: "xy"+EOS, "z"+EOS, "xy"+EOS.
	if batch.NumTokens != 3+2+3 || batch.B != 3 || batch.T != infer.Bucket(len(rows[0].Tokens), 64) {
		t.Fatalf("batch: %d loss tokens, B %d T %d", batch.NumTokens, batch.B, batch.T)
	}
	// The mask numbers the packed examples: a then b in row 0.
	for i := range len(rows[0].Tokens) {
		want := int32(1)
		if i >= len(a.Tokens) {
			want = 2
		}
		if batch.Mask[i] != want {
			t.Fatalf("row 0 mask %v: want segment ids 1 then 2", batch.Mask[:len(rows[0].Tokens)])
		}
	}
	// Row 2 is padding only.
	if slices.ContainsFunc(batch.Mask[2*64:], func(v int32) bool { return v != 0 }) {
		t.Fatal("padding row has real tokens")
	}
	if o1, o2 := EpochOrder(10, 1, 0), EpochOrder(10, 1, 0); !slices.Equal(o1, o2) || slices.Equal(o1, EpochOrder(10, 1, 1)) {
		t.Fatal("epoch order is not a deterministic per-epoch permutation")
	}
}

func TestSFTPacked(t *testing.T) {
	base := tinyModelDir(t, 1, 32, 64)
	root := t.TempDir()
	data := writeDataset(t, filepath.Join(root, "sft"), append(sftRows(), dataset.SFT{Prompt: "x?", Response: "y"}))
	out := filepath.Join(root, "out")
	res, err := RunSFT(context.Background(), SFTOptions{Model: base, Data: data, Pack: true, CommonOptions: CommonOptions{
		Out: out, MaxSteps: 30, LR: 1e-2, BatchSize: 1, MaxSeqLen: 64, Backend: "go"}})
	if err != nil {
		t.Fatal(err)
	}
	log, _ := ReadMetrics(filepath.Join(out, MetricsFile))
	if first := log[0]["loss"]; !(res.Loss < first/2) {
		t.Fatalf("packed SFT loss %v → %v after 30 steps", first, res.Loss)
	}
}

// TestValFrac: --val-frac holds out about that share of the prompts, whole
// (every row of a comparison group on one side), the same ones on every run,
// and refuses data that already has validation rows.
func TestValFrac(t *testing.T) {
	var rows []dataset.Comparison
	for g := 0; g < 200; g++ {
		for k := 0; k < 3; k++ {
			rows = append(rows, dataset.Comparison{GroupID: fmt.Sprint("g", g), Prompt: fmt.Sprint("p", g), Chosen: "a", Rejected: fmt.Sprint("b", k)})
		}
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "cmp")
	w, err := dataset.Create[dataset.Comparison](data, dataset.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rows...); err != nil || w.Close() != nil {
		t.Fatal(err)
	}
	o := CommonOptions{ValFrac: 0.2, Seed: 3}
	train, val, err := readTrainVal[dataset.Comparison](data, "", o)
	if err != nil {
		t.Fatal(err)
	}
	side := map[string]string{}
	for name, part := range map[string][]dataset.Comparison{"train": train, "val": val} {
		for _, r := range part {
			if s, ok := side[r.GroupID]; ok && s != name {
				t.Fatalf("group %s in train and val", r.GroupID)
			}
			side[r.GroupID] = name
		}
	}
	if len(train)+len(val) != len(rows) || len(val)%3 != 0 || len(val) < 3*25 || len(val) > 3*55 {
		t.Fatalf("%d train, %d val rows of %d (want about 20%% of 200 groups of 3)", len(train), len(val), len(rows))
	}
	train2, val2, _ := readTrainVal[dataset.Comparison](data, "", o)
	if !slices.Equal(train, train2) || !slices.Equal(val, val2) {
		t.Error("a rerun held out other rows")
	}
	if _, val0, _ := readTrainVal[dataset.Comparison](data, "", CommonOptions{}); len(val0) != 0 {
		t.Errorf("no --val-frac: %d val rows", len(val0))
	}
	if _, _, err := readTrainVal[dataset.Comparison](data, data, o); err == nil || !strings.Contains(err.Error(), "ValFrac 0.2: the data already has validation rows") {
		t.Errorf("--val-frac with --val: %v", err)
	}
	bad := SFTDefaults().CommonOptions
	bad.Out, bad.ValFrac = dir, 1
	if err := bad.Check(); err == nil || !strings.Contains(err.Error(), "ValFrac 1") {
		t.Errorf("--val-frac 1: %v", err)
	}
}
