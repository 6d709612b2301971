package label

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/option"
)

// Import formats.
const (
	// FormatHH is Anthropic-HH style JSONL: "chosen" and "rejected" are full
	// transcripts ("\n\nHuman: ...\n\nAssistant: ...") sharing the prompt.
	FormatHH = "hh"
	// FormatTRL is TRL's preference format: "prompt", "chosen", "rejected"
	// strings, JSONL or Parquet; also TRL's conversational rows (lists of
	// role/content messages, the prompt explicit or implicit; a system
	// message and earlier turns go to the history column).
	FormatTRL = "trl"
	// FormatRanked is K-wise rankings: "prompt", "responses" (list of
	// strings) and "ranks" (1-based, 1 best, equal ranks are ties), JSONL
	// or Parquet.
	FormatRanked = "ranked"
)

// ImportOptions tune Import (`rlhf comparisons import`).
type ImportOptions struct {
	// Format is hh, trl or ranked.
	Format string
	// In are the input files: .jsonl, .jsonl.gz or (trl, ranked) .parquet.
	In []string
	// Out is the comparison dataset directory to write.
	Out string
	// Source is the source column; default the first input's base name
	// without extensions (e.g. "hh-rlhf-train").
	Source string
	// Task and Lang fill the task and lang columns; Lang "auto" (the
	// default) detects zh or en per prompt, Task defaults to empty.
	Task string
	Lang string
	// RowsPerShard is passed to the dataset writer; 0 means its default.
	RowsPerShard int64
	// Encoding is the character encoding of JSONL inputs: UTF-8 (default;
	// a line that is not valid UTF-8 is an error naming file and line),
	// GBK, GB18030 or Big5 (decoded).
	Encoding dataset.Encoding
}

// ImportReport says what Import wrote.
type ImportReport struct {
	Read    int   `json:"read"`
	Rows    int64 `json:"rows"`
	Skipped int   `json:"skipped"`
}

// importRow is the union of the fields of the three formats.
type importRow struct {
	Prompt    string   `json:"prompt" parquet:"prompt,optional"`
	Chosen    string   `json:"chosen" parquet:"chosen,optional"`
	Rejected  string   `json:"rejected" parquet:"rejected,optional"`
	Responses []string `json:"responses" parquet:"responses,optional,list"`
	Ranks     []int64  `json:"ranks" parquet:"ranks,optional,list"`
	// History is the conversation before Prompt of a conversational TRL
	// row (system message, earlier turns).
	History []dataset.Message `json:"-" parquet:"-"`
}

// invalidUTF8 names the first text column of a Parquet row that is not
// valid UTF-8 (a non-strict writer's file), "" when all are.
func (r importRow) invalidUTF8() string {
	for _, c := range []struct{ name, s string }{{"prompt", r.Prompt}, {"chosen", r.Chosen}, {"rejected", r.Rejected}} {
		if !utf8.ValidString(c.s) {
			return c.name
		}
	}
	for i, s := range r.Responses {
		if !utf8.ValidString(s) {
			return fmt.Sprintf("responses[%d]", i)
		}
	}
	return ""
}

const hhAssistant = "\n\nAssistant:"

// SplitHH splits an Anthropic-HH pair of transcripts into the shared prompt
// (the common start up to and including its last "\n\nAssistant:") and the
// two final answers.
func SplitHH(chosen, rejected string) (prompt, c, r string, err error) {
	n := 0
	for n < len(chosen) && n < len(rejected) && chosen[n] == rejected[n] {
		n++
	}
	cut := strings.LastIndex(chosen[:n], hhAssistant)
	if cut < 0 {
		return "", "", "", errors.New(`chosen and rejected share no prompt ending in "Assistant:"`)
	}
	cut += len(hhAssistant)
	prompt = strings.TrimSpace(chosen[:cut])
	c, r = strings.TrimSpace(chosen[cut:]), strings.TrimSpace(rejected[cut:])
	if c == "" || r == "" {
		return "", "", "", errors.New("an answer is empty after the shared prompt")
	}
	return prompt, c, r, nil
}

// Import converts public preference data into a comparison dataset. Pairs
// (hh, trl) become plain pairs (no group_id, ranks 0); ranked lists become
// groups expanded into their C(K,2) pairs with ranks, ties dropped. A
// malformed line is an error naming file and line; rows whose two answers
// are equal, or HH rows without a shared prompt, are skipped and counted.
func Import(ctx context.Context, opts ImportOptions) (*ImportReport, error) {
	switch opts.Format {
	case FormatHH, FormatTRL, FormatRanked:
	default:
		return nil, option.Errorf("{Format} %q: want hh, trl or ranked", opts.Format)
	}
	if len(opts.In) == 0 || opts.Out == "" {
		return nil, option.Errorf("comparisons import: {In} and {Out} are required")
	}
	if err := dataset.CheckOutput[dataset.Comparison](opts.Out, opts.In...); err != nil {
		return nil, option.Errorf("{Out}: %w", err)
	}
	if _, err := dataset.ParseEncoding(string(opts.Encoding)); err != nil {
		return nil, option.Errorf("{Encoding}: %w", err)
	}
	if opts.Source == "" {
		base := filepath.Base(opts.In[0])
		for _, ext := range []string{".gz", ".jsonl", ".json", ".parquet"} {
			base = strings.TrimSuffix(base, ext)
		}
		opts.Source = base
	}
	if opts.Task != "" && !dataset.IsTask(opts.Task) {
		return nil, option.Errorf("{Task} %q: want one of %s", opts.Task, strings.Join(dataset.Tasks, ", "))
	}
	if opts.Lang == "" {
		opts.Lang = "auto"
	}
	w, err := dataset.Create[dataset.Comparison](opts.Out, dataset.WriterOptions{
		RowsPerShard: opts.RowsPerShard,
		Meta:         map[string]string{"source": opts.Source, "format": opts.Format},
	})
	if err != nil {
		return nil, err
	}
	defer w.Abort()
	rep := &ImportReport{}
	lang := func(prompt string) string {
		if opts.Lang == "auto" {
			return DetectLang(prompt)
		}
		return opts.Lang
	}
	convert := func(pos string, row importRow) error {
		rep.Read++
		switch opts.Format {
		case FormatHH, FormatTRL:
			if row.Chosen == "" || row.Rejected == "" {
				return fmt.Errorf("%s: want non-empty \"chosen\" and \"rejected\"", pos)
			}
			prompt, c, r := row.Prompt, row.Chosen, row.Rejected
			if opts.Format == FormatHH {
				var err error
				if prompt, c, r, err = SplitHH(row.Chosen, row.Rejected); err != nil {
					slog.Debug("comparisons import: skipping row", "at", pos, "why", err)
					rep.Skipped++
					return nil
				}
			} else if prompt == "" {
				return fmt.Errorf("%s: want a non-empty \"prompt\"", pos)
			}
			if c == r {
				rep.Skipped++
				return nil
			}
			return w.Write(dataset.WithID(dataset.Comparison{Prompt: prompt, Chosen: c, Rejected: r, History: dataset.EncodeHistory(row.History), Task: opts.Task, Lang: lang(prompt), Source: opts.Source}))
		default:
			if row.Prompt == "" || len(row.Responses) < 2 || len(row.Ranks) != len(row.Responses) {
				return fmt.Errorf("%s: want \"prompt\", at least two \"responses\" and as many \"ranks\" (got %d responses, %d ranks)", pos, len(row.Responses), len(row.Ranks))
			}
			g := Group{GroupID: dataset.ContentID("ranked", opts.Source, row.Prompt, strings.Join(row.Responses, "\x1e")), Prompt: row.Prompt, Answers: row.Responses, Task: opts.Task, Lang: lang(row.Prompt), Source: opts.Source}
			raw := Ranking{}
			for i, r := range row.Ranks {
				if r < 1 || r > int64(len(row.Ranks)) {
					return fmt.Errorf("%s: rank %d of response %d, want 1..%d", pos, r, i+1, len(row.Ranks))
				}
				raw[fmt.Sprint(i)] = int(r)
			}
			dense := DenseRanks(raw)
			for i := range row.Responses {
				g.Ranks = append(g.Ranks, dense[fmt.Sprint(i)])
			}
			rows := g.Pairs()
			if len(rows) == 0 {
				rep.Skipped++
				return nil
			}
			return w.Write(rows...)
		}
	}
	for _, in := range opts.In {
		read := readImportFile
		if opts.Format == FormatTRL && conversationalParquet(in) {
			read = readConversationalParquet
		}
		if err := read(ctx, in, opts.Encoding, convert); err != nil {
			return nil, err
		}
	}
	rep.Rows = w.Rows()
	if rep.Rows == 0 {
		return nil, fmt.Errorf("comparisons import: no usable rows in %s (%d read, %d skipped)", strings.Join(opts.In, ", "), rep.Read, rep.Skipped)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	slog.Info("comparisons import: wrote", "out", opts.Out, "format", opts.Format, "read", rep.Read, "rows", rep.Rows, "skipped", rep.Skipped)
	return rep, nil
}

// conversationalParquet reports whether path is a Parquet file whose
// "chosen" column is not a string: TRL's conversational rows (lists of
// role/content messages).
func conversationalParquet(path string) bool {
	if !strings.HasSuffix(path, ".parquet") {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return false
	}
	for _, fl := range pf.Schema().Fields() {
		if fl.Name() == "chosen" {
			return !fl.Leaf()
		}
	}
	return false
}

// readConversationalParquet calls fn for each row of a Parquet file of TRL
// conversational rows, read by the comparison reader of package dataset
// (which converts them as it does JSONL rows).
func readConversationalParquet(ctx context.Context, path string, _ dataset.Encoding, fn func(pos string, row importRow) error) error {
	r, err := dataset.Open[dataset.Comparison](path)
	if err != nil {
		return option.Errorf("{In}: %w", err)
	}
	defer r.Close()
	return r.Each(ctx, func(c dataset.Comparison) error {
		history, err := dataset.DecodeHistory(c.History)
		if err != nil {
			return fmt.Errorf("%s: %w", r.Position(), err)
		}
		return fn(r.Position(), importRow{Prompt: c.Prompt, Chosen: c.Chosen, Rejected: c.Rejected, History: history})
	})
}

// readImportFile calls fn for each row of a JSONL(.gz) file in encoding
// enc or of a Parquet file.
func readImportFile(ctx context.Context, path string, enc dataset.Encoding, fn func(pos string, row importRow) error) error {
	if strings.HasSuffix(path, ".parquet") {
		f, err := os.Open(path)
		if err != nil {
			return option.Errorf("{In}: %w", err)
		}
		defer f.Close()
		pr := parquet.NewGenericReader[importRow](f)
		defer pr.Close()
		buf := make([]importRow, 256)
		n := 0
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			k, err := pr.Read(buf)
			for i := range buf[:k] {
				n++
				pos := fmt.Sprintf("%s: row %d", path, n)
				if col := buf[i].invalidUTF8(); col != "" {
					return fmt.Errorf("%s: invalid UTF-8 in column %q", pos, col)
				}
				if err := fn(pos, buf[i]); err != nil {
					return err
				}
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: row %d: %w", path, n+1, err)
			}
		}
	}
	if _, err := os.Stat(path); err != nil {
		return option.Errorf("{In}: %w", err)
	}
	return dataset.EachLineAs(path, enc, func(line int, text []byte) error {
		if line%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var jr jsonImportRow
		if err := json.Unmarshal(text, &jr); err != nil {
			return fmt.Errorf("%s:%d: not a JSON object with the expected fields: %w", path, line, err)
		}
		pos := fmt.Sprintf("%s:%d", path, line)
		row, err := jr.importRow()
		if err != nil {
			return fmt.Errorf("%s: %w", pos, err)
		}
		return fn(pos, row)
	})
}

// jsonImportRow is a JSONL row: prompt, chosen and rejected are strings or,
// in TRL's conversational format, lists of role/content messages.
type jsonImportRow struct {
	Prompt    json.RawMessage `json:"prompt"`
	Chosen    json.RawMessage `json:"chosen"`
	Rejected  json.RawMessage `json:"rejected"`
	Responses []string        `json:"responses"`
	Ranks     []int64         `json:"ranks"`
}

// importRow turns a JSONL row into the plain row the formats share, the
// conversational fields converted by dataset.PreferenceFromJSON (the
// function the comparison JSONL reader uses too).
func (j jsonImportRow) importRow() (importRow, error) {
	p, err := dataset.PreferenceFromJSON(j.Prompt, j.Chosen, j.Rejected)
	if err != nil {
		return importRow{}, err
	}
	return importRow{Prompt: p.Prompt, Chosen: p.Chosen, Rejected: p.Rejected, History: p.History, Responses: j.Responses, Ranks: j.Ranks}, nil
}
