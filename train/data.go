package train

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/option"
)

// Batch is a padded batch of sequences (right padding), with next-token
// targets already shifted: position t of the model predicts Targets[t] =
// Tokens[t+1], and counts in the loss when Weights[t] is 1 (the target is a
// response token).
type Batch struct {
	// Tokens, Mask (1 real, 0 padding), Targets and Weights are [B, T] row-major.
	Tokens, Mask, Targets []int32
	Weights               []float32
	B, T                  int
	// NumTokens is the number of loss tokens (sum of Weights).
	NumTokens int
}

// MakeBatch pads rows into a [rows, T] batch; T is the longest row rounded
// up to a multiple of 16 (capped at maxLen). Rows beyond len(rows) up to
// rows are all padding (so every batch of a run has the same B). Only
// response tokens are targets with weight 1.
func MakeBatch(seqs []infer.Encoded, rows, maxLen, pad int) Batch {
	longest := 1
	for _, s := range seqs {
		longest = max(longest, len(s.Tokens))
	}
	T := infer.Bucket(longest, maxLen)
	b := Batch{B: rows, T: T, Tokens: make([]int32, rows*T), Mask: make([]int32, rows*T),
		Targets: make([]int32, rows*T), Weights: make([]float32, rows*T)}
	for i := range b.Tokens {
		b.Tokens[i] = int32(pad)
		b.Targets[i] = int32(pad)
	}
	for i, s := range seqs {
		for t, id := range s.Tokens {
			b.Tokens[i*T+t] = id
			b.Mask[i*T+t] = 1
			if s.Segment != nil {
				b.Mask[i*T+t] = s.Segment[t]
			}
			if t > 0 {
				b.Targets[i*T+t-1] = id
				if s.LossAt(t) {
					b.Weights[i*T+t-1] = 1
					b.NumTokens++
				}
			}
		}
	}
	return b
}

// Pack concatenates whole sequences greedily, in order, into rows of at
// most maxLen tokens, keeping each token's loss mark and numbering the
// sequences of a row (Segment), so that each attends only to itself and its
// positions start at 0, as if it were alone (model.Hidden's segment mask).
func Pack(seqs []infer.Encoded, maxLen int) []infer.Encoded {
	var rows []infer.Encoded
	cur := infer.Encoded{Loss: []int32{}, Segment: []int32{}}
	seg := int32(0)
	for _, s := range seqs {
		if len(cur.Tokens)+len(s.Tokens) > maxLen && len(cur.Tokens) > 0 {
			rows = append(rows, cur)
			cur = infer.Encoded{Loss: []int32{}, Segment: []int32{}}
			seg = 0
		}
		seg++
		for t, id := range s.Tokens {
			cur.Tokens = append(cur.Tokens, id)
			m := int32(0)
			if s.LossAt(t) {
				m = 1
			}
			cur.Loss = append(cur.Loss, m)
			cur.Segment = append(cur.Segment, seg)
		}
	}
	if len(cur.Tokens) > 0 {
		rows = append(rows, cur)
	}
	return rows
}

// EpochOrder is the order in which epoch visits n items: a permutation that
// depends only on seed and epoch, so a resumed run replays it exactly.
func EpochOrder(n int, seed uint64, epoch int) []int {
	return rand.New(rand.NewPCG(seed, uint64(epoch)+1)).Perm(n)
}

// resolveData returns the train and val inputs of a --data argument: a
// dataset folder with train/ and val/ splits, a single dataset, or a
// .parquet/.jsonl file. val overrides the validation data when not empty.
func resolveData(data, val string) (trainPaths, valPaths []string, err error) {
	if data == "" {
		return nil, nil, option.Errorf("{Data}: no dataset given")
	}
	st, err := os.Stat(data)
	if err != nil {
		return nil, nil, option.Errorf("{Data} %s: %w", data, err)
	}
	if st.IsDir() {
		trainPaths, valPaths, err = dataset.Splits(data)
		if err != nil {
			return nil, nil, option.Errorf("{Data} %s: %w", data, err)
		}
	} else {
		trainPaths = []string{data}
	}
	if val != "" {
		valPaths = []string{val}
	}
	return trainPaths, valPaths, nil
}

// readAll reads every record of kind T, with an error naming the option field
// when there are none, and the file and row of a row that cannot be
// trained on (an empty response, chosen or rejected text: also what a
// JSONL file of another kind looks like, since JSONL carries no kind).
func readAll[T dataset.Record](field option.Field, paths []string, enc dataset.Encoding) ([]T, error) {
	r, err := dataset.OpenWith[T](dataset.ReaderOptions{Encoding: enc}, paths...)
	if err != nil {
		return nil, option.Errorf("%s: %w", field, err)
	}
	defer r.Close()
	var rows []T
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, option.Errorf("%s: %w", field, err)
		}
		if problem := checkRow(row); problem != "" {
			return nil, option.Errorf("%s: %s: %s (is this %s data?)", field, r.Position(), problem, dataset.KindOf[T]())
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, option.Errorf("%s %s: the dataset is empty", field, strings.Join(paths, ", "))
	}
	return rows, nil
}

func checkRow(row any) string {
	switch r := row.(type) {
	case dataset.SFT:
		if strings.TrimSpace(r.Response) == "" {
			return "empty response"
		}
		if _, err := infer.History(r.History); err != nil {
			return err.Error()
		}
	case dataset.Comparison:
		if strings.TrimSpace(r.Chosen) == "" || strings.TrimSpace(r.Rejected) == "" {
			return "empty chosen or rejected response"
		}
		if _, err := infer.History(r.History); err != nil {
			return err.Error()
		}
	}
	return ""
}

// encodeConv encodes a row's conversation (its history column, prompt and
// final answer): with allTurns the loss falls on every assistant turn (SFT),
// otherwise on the final answer only (RM, DPO). readAll checked the
// history.
func encodeConv(enc *infer.Encoder, history, prompt, response string, allTurns bool, stats *infer.TruncStats) (infer.Encoded, bool) {
	h, _ := infer.History(history)
	return enc.EncodeConversation(h, prompt, response, allTurns, stats)
}

// readTrainVal reads the training rows of --data and the validation rows of
// --val, or of --data's val/ split, or else the share o.ValFrac of --data's
// prompts held out (none when there is neither).
func readTrainVal[T dataset.Record](data, val string, o CommonOptions) (trainRows, valRows []T, err error) {
	trainPaths, valPaths, err := resolveData(data, val)
	if err != nil {
		return nil, nil, err
	}
	if len(valPaths) > 0 && o.ValFrac > 0 {
		return nil, nil, option.Errorf("{ValFrac} %g: the data already has validation rows (%s); give one or the other", o.ValFrac, strings.Join(valPaths, ", "))
	}
	if trainRows, err = readAll[T]("Data", trainPaths, o.Encoding); err != nil {
		return nil, nil, err
	}
	if len(valPaths) > 0 {
		if valRows, err = readAll[T]("Val", valPaths, o.Encoding); err != nil {
			return nil, nil, err
		}
	}
	if o.ValFrac > 0 {
		trainRows, valRows = holdOut(trainRows, o.ValFrac, o.Seed)
		if len(trainRows) == 0 {
			return nil, nil, option.Errorf("{ValFrac} %g: every prompt of {Data} %s went to validation; nothing is left to train on", o.ValFrac, data)
		}
		slog.Info("held out for validation", "val_frac", o.ValFrac, "train_rows", len(trainRows), "val_rows", len(valRows))
	}
	return trainRows, valRows, nil
}

// holdOut moves about frac of the prompts of rows, with all their rows (a
// comparison group, or every demonstration of one prompt), to val: a prompt
// goes there when the hash of its key and seed falls below frac, so the
// split is the same on every run and never cuts a prompt in two.
func holdOut[T dataset.Record](rows []T, frac float64, seed uint64) (train, val []T) {
	for _, r := range rows {
		sum := sha256.Sum256(fmt.Appendf(nil, "%d\x00%s", seed, holdOutKey(r)))
		if float64(binary.LittleEndian.Uint64(sum[:])>>11)/(1<<53) < frac {
			val = append(val, r)
		} else {
			train = append(train, r)
		}
	}
	return train, val
}

// holdOutKey is what holdOut keeps together: a comparison's group (or
// prompt), a demonstration's prompt.
func holdOutKey(row any) string {
	switch r := row.(type) {
	case dataset.Comparison:
		if r.GroupID != "" {
			return r.GroupID
		}
		return r.Prompt
	case dataset.SFT:
		return r.Prompt
	}
	return fmt.Sprint(row)
}
