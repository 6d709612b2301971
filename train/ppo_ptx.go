package train

import (
	"os"
	"strings"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/option"
)

// ptxData is the pre-training data of PPO-ptx, walked batch after batch.
type ptxData struct {
	seqs []infer.Encoded
	data *loader
	pad  int
	max  int
}

// loadPtx reads --ptx: an sft dataset (loss on responses) or a qa dataset
// (question + answer as plain text, loss on every token), as a dataset
// folder, .parquet or .jsonl.
func loadPtx(path string, enc *infer.Encoder, batch int, seed uint64, textEnc dataset.Encoding) (*ptxData, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, option.Errorf("{Ptx} %s: %w", path, err)
	}
	paths := []string{path}
	if tr, _, err := dataset.Splits(path); err == nil && len(tr) > 0 {
		paths = tr
	}
	var seqs []infer.Encoded
	plain := func(text string) {
		if ids := enc.Plain(text); len(ids) >= 2 {
			seqs = append(seqs, infer.Encoded{Tokens: ids})
		}
	}
	ropts := dataset.ReaderOptions{Encoding: textEnc}
	sft, sftErr := dataset.ReadAllWith[dataset.SFT](ropts, paths...)
	usable := false
	for _, r := range sft {
		if r.Response != "" {
			usable = true
			break
		}
	}
	if sftErr == nil && usable {
		for _, r := range sft {
			if e, ok := encodeConv(enc, r.History, r.Prompt, r.Response, true, nil); ok {
				seqs = append(seqs, e)
			}
		}
	} else {
		if dataset.IsInvalidUTF8(sftErr) {
			return nil, option.Errorf("{Ptx}: %w", sftErr)
		}
		qa, qaErr := dataset.ReadAllWith[dataset.QA](ropts, paths...)
		if qaErr != nil {
			return nil, option.Errorf("{Ptx} %s: neither an sft dataset (%v) nor a qa dataset (%v)", path, sftErr, qaErr)
		}
		for _, r := range qa {
			parts := []string{}
			for _, s := range []string{r.Title, r.Question, r.Context, r.Answer} {
				if strings.TrimSpace(s) != "" {
					parts = append(parts, s)
				}
			}
			plain(strings.Join(parts, "\n"))
		}
	}
	if len(seqs) == 0 {
		return nil, option.Errorf("{Ptx} %s: no usable rows (an sft dataset with responses, or a qa dataset)", path)
	}
	return &ptxData{seqs: seqs, data: &loader{n: len(seqs), batch: batch, seed: seed ^ 0x97c}, pad: enc.Tok.PAD(), max: enc.MaxLen}, nil
}

// next returns the next ptx batch, padded to rows rows.
func (p *ptxData) next(rows int) *Batch {
	idx := p.data.next()
	batch := make([]infer.Encoded, len(idx))
	for i, j := range idx {
		batch[i] = p.seqs[j]
	}
	b := MakeBatch(batch, rows, p.max, max(p.pad, 0))
	return &b
}
