package train

import (
	"path/filepath"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/tokenizer"
)

// tinyModelDir writes a random gpt2-style model with the byte-level
// tokenizer (257 tokens) into a temp folder.
func tinyModelDir(t testing.TB, layers, hidden, maxPos int) string {
	t.Helper()
	cfg, err := model.NewConfig(model.ArchGPT2, 257, layers, hidden, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxPositions = maxPos
	cfg.EOS = 256
	m, err := model.New(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "base")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := tokenizer.WriteByteLevel(filepath.Join(dir, "tokenizer.json")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeDataset writes rows as a dataset folder.
func writeDataset[T dataset.Record](t testing.TB, dir string, rows []T) string {
	t.Helper()
	w, err := dataset.Create[T](dir, dataset.WriterOptions{Command: []string{"test"}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if err := w.Write(rows...); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// greedy continues prompt with the model's argmax tokens until EOS or n
// tokens, by full forward passes over a fixed-length padded row.
func greedy(t testing.TB, dir, prompt string, n int) string {
	t.Helper()
	m, tok, err := loadModel("Model", dir, 64, "")
	if err != nil {
		t.Fatal(err)
	}
	backend, err := NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	const T = 64
	next := gmodel.MustNewExec(backend, m.Store, func(_ *gmodel.Scope, tokens, mask, pos *Node) *Node {
		logits, _ := m.Forward(tokens, mask)
		last := model.AtIndex(logits, pos) // [1,V]
		return ConvertDType(ArgMax(last, -1), dtypes.Int32)
	})
	enc := &infer.Encoder{Tok: tok, Meta: m.Meta, MaxLen: T, Truncate: infer.TruncateLeft}
	e, _ := enc.Encode(prompt, "", nil)
	ids := e.Tokens[:e.PromptLen]
	var out []int
	for range n {
		tokens := make([]int32, T)
		mask := make([]int32, T)
		copy(tokens, ids)
		for i := range ids {
			mask[i] = 1
		}
		id := next.MustExec1(tensorOf(tokens, 1, T), tensorOf(mask, 1, T), tensorOf([]int32{int32(len(ids) - 1)}, 1)).Value().([]int32)[0]
		if int(id) == tok.EOS() || len(ids) >= T {
			break
		}
		ids = append(ids, id)
		out = append(out, int(id))
	}
	return tok.Decode(out)
}

// benchBatch is a batch of batch fixed pseudo-random sequences of seq
// tokens below vocab, a quarter of each the prompt: what the training-step
// benchmarks feed SFT.
func benchBatch(vocab, batch, seq int) Batch {
	seqs := make([]infer.Encoded, batch)
	for i := range seqs {
		toks := make([]int32, seq)
		for j := range toks {
			toks[j] = int32((i*7919 + j*104729) % vocab)
		}
		seqs[i] = infer.Encoded{Tokens: toks, PromptLen: seq / 4}
	}
	return MakeBatch(seqs, batch, seq, 0)
}
