package train

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/rlhf-project/rlhf/atomicfile"
	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/tokenizer"
	"github.com/rlhf-project/rlhf/option"
	"github.com/rlhf-project/rlhf/progress"
)

// RefLogpsFile is the cache of the reference model's log-probs in a DPO
// run's output folder.
const RefLogpsFile = "ref_logps.json"

// refLogpsFormat names (and versions) the layout of RefLogpsFile.
const refLogpsFormat = "rlhf-dpo-ref-logps/1"

// refLogps is RefLogpsFile: the summed response log-prob under the
// reference of every sequence of every comparison group, Train[g][s] for
// sequence s of training group g (Val likewise), valid for the run whose
// sequences and reference weights hash to Key.
type refLogps struct {
	Format    string      `json:"format"`
	Key       string      `json:"key"`
	Reference string      `json:"reference"`
	DType     string      `json:"dtype"`
	Train     [][]float64 `json:"train"`
	Val       [][]float64 `json:"val"`
}

// newSeqLogpExec compiles seqLogProbs of m: (tokens, mask, targets,
// weights) [N,T] → the summed log-prob of each row's targets [N].
func newSeqLogpExec(backend compute.Backend, m *model.Model) *gmodel.Exec {
	return gmodel.MustNewExec(backend, m.Store, func(_ *gmodel.Scope, tokens, mask, targets, weights *Node) *Node {
		sum, _ := seqLogProbs(m, tokens, mask, targets, weights)
		return sum
	})
}

// groupLogps returns the summed response log-prob of every sequence of
// every group under exec's model, out[g][s], in batches of rows sequences.
// bar, when not nil, counts sequences.
func groupLogps(ctx context.Context, exec *gmodel.Exec, groups []Group, rows, maxLen, pad int, bar *progress.Bar) ([][]float64, error) {
	var seqs []infer.Encoded
	out := make([][]float64, len(groups))
	for i, g := range groups {
		seqs = append(seqs, g.Seqs...)
		out[i] = make([]float64, len(g.Seqs))
	}
	flat := make([]float64, 0, len(seqs))
	for lo := 0; lo < len(seqs); lo += rows {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		part := seqs[lo:min(lo+rows, len(seqs))]
		b := MakeBatch(part, rows, maxLen, pad)
		outs, err := exec.Exec(SFTInputs(b)...)
		if err != nil {
			return nil, err
		}
		vals := tensors.MustCopyFlatData[float32](outs[0])
		for _, t := range outs {
			t.FinalizeAll()
		}
		for i := range part {
			flat = append(flat, float64(vals[i]))
		}
		if bar != nil {
			bar.Add(int64(len(part)))
		}
	}
	k := 0
	for i := range out {
		k += copy(out[i], flat[k:])
	}
	return out, nil
}

// referenceLogps returns the reference log-probs of the training and
// validation groups: read from Out/RefLogpsFile when it was written for
// the same sequences, reference weights and dtype (so --resume does not
// recompute them), otherwise computed, in one pass, and written there.
// The reference is --ref-model, or --model's starting weights: on a fresh
// run those are policy's own (exec, before any update), so no second copy
// is loaded; on a resumed run the starting checkpoint is loaded again.
func referenceLogps(ctx context.Context, o *DPOOptions, exec *gmodel.Exec, tok *tokenizer.Tokenizer, resumeFrom string,
	backend compute.Backend, groups, valGroups []Group, rows int) (train, val [][]float64, cached bool, err error) {
	refDir, from := o.Ref, option.Field("Ref")
	if refDir == "" {
		refDir, from = o.Model, "Model"
	}
	key, err := refCacheKey(refDir, o.DType, groups, valGroups)
	if err != nil {
		return nil, nil, false, option.Errorf("%s %s: %w", from, refDir, err)
	}
	path := filepath.Join(o.Out, RefLogpsFile)
	c, ok, err := readRefCache(path, key, groups, valGroups)
	switch {
	case err != nil:
		return nil, nil, false, err
	case ok:
		slog.Info("reference log-probs read from the cache", "file", path, "reference", refDir)
		return c.Train, c.Val, true, nil
	case c != nil:
		slog.Warn("the cached reference log-probs are for other data, weights or --dtype: computing them again", "file", path)
	}
	if o.Ref != "" || resumeFrom != "" {
		ref, refTok, err := loadModel(from, refDir, o.MaxSeqLen, o.Template)
		if err != nil {
			return nil, nil, false, err
		}
		if err := checkCausalLM(ref); err != nil {
			return nil, nil, false, option.Errorf("%s %s: %w", from, refDir, err)
		}
		if err := infer.SameTokenizer(tok, refTok); err != nil {
			return nil, nil, false, option.Errorf("{Model} and %s: %w", from, err)
		}
		if err := ref.SetComputeDType(o.DType); err != nil {
			return nil, nil, false, err
		}
		exec = newSeqLogpExec(backend, ref)
	}
	total := 0
	for _, gs := range [][]Group{groups, valGroups} {
		for _, g := range gs {
			total += len(g.Seqs)
		}
	}
	bar := progress.New(ctx, int64(total), "reference log-probs")
	defer bar.Finish()
	if train, err = groupLogps(ctx, exec, groups, rows, o.MaxSeqLen, tok.PAD(), bar); err != nil {
		return nil, nil, false, refInterrupted(err)
	}
	if val, err = groupLogps(ctx, exec, valGroups, rows, o.MaxSeqLen, tok.PAD(), bar); err != nil {
		return nil, nil, false, refInterrupted(err)
	}
	raw, err := json.Marshal(refLogps{Format: refLogpsFormat, Key: key, Reference: refDir, DType: o.DType, Train: train, Val: val})
	if err != nil {
		return nil, nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil { // --out is created when writing starts
		return nil, nil, false, err
	}
	if err := atomicfile.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
		return nil, nil, false, err
	}
	slog.Info("reference log-probs computed and cached", "file", path, "sequences", total, "reference", refDir)
	return train, val, false, nil
}

// refInterrupted says what an interruption of the reference pass leaves.
func refInterrupted(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("interrupted while computing the reference log-probs (nothing was trained; run again to start over): %w", err)
	}
	return err
}

// readRefCache reads path: ok when it holds the reference log-probs of key
// for groups and valGroups; c not nil when it is a cache of another run
// (to replace); an error when it is something else, which is not replaced.
func readRefCache(path, key string, groups, valGroups []Group) (c *refLogps, ok bool, err error) {
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, err
	}
	c = &refLogps{}
	if json.Unmarshal(raw, c) != nil || c.Format != refLogpsFormat {
		return nil, false, option.Errorf("{Out}: %s is not a reference log-prob cache of rlhf dpo; move it away or choose another {Out}", path)
	}
	if c.Key != key {
		return c, false, nil
	}
	fits := func(v [][]float64, gs []Group) bool {
		if len(v) != len(gs) {
			return false
		}
		for i, g := range gs {
			if len(v[i]) != len(g.Seqs) {
				return false
			}
		}
		return true
	}
	return c, fits(c.Train, groups) && fits(c.Val, valGroups), nil
}

// refCacheKey hashes what the reference log-probs depend on: the
// reference's config and weights (every *.safetensors file of refDir), the
// compute dtype and the token ids of every sequence, group by group.
func refCacheKey(refDir, dtype string, sets ...[]Group) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\ndtype %s\n", refLogpsFormat, dtype)
	entries, err := os.ReadDir(refDir)
	if err != nil {
		return "", err
	}
	var files []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && (n == "config.json" || strings.HasSuffix(n, ".safetensors")) {
			files = append(files, n)
		}
	}
	sort.Strings(files)
	for _, n := range files {
		f, err := os.Open(filepath.Join(refDir, n))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "file %s\n", n)
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	var buf [4]byte
	put := func(v int) {
		binary.LittleEndian.PutUint32(buf[:], uint32(v))
		h.Write(buf[:])
	}
	for _, gs := range sets {
		put(len(gs))
		for _, g := range gs {
			put(len(g.Seqs))
			for _, s := range g.Seqs {
				put(len(s.Tokens))
				for t, id := range s.Tokens {
					put(int(id))
					if s.LossAt(t) {
						put(1)
					} else {
						put(0)
					}
				}
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
