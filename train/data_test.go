package train

import (
	"context"
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
