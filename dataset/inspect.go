package dataset

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
)

// Inspection summarises one dataset directory: what `rlhf inspect` prints.
type Inspection struct {
	Dir      string    `json:"dir"`
	Manifest *Manifest `json:"manifest"`
	// Schema is the Parquet schema of the first shard, in Parquet's
	// message notation.
	Schema string `json:"schema"`
	// Head holds the first rows, as JSON objects with the record's fields.
	Head []json.RawMessage `json:"head"`
	// Tasks and Langs count rows per task and per language (empty where
	// the kind has no such column).
	Tasks []Share `json:"tasks,omitempty"`
	Langs []Share `json:"langs,omitempty"`
	// Lengths gives, for every text column, percentiles of its length in
	// characters (Unicode code points).
	Lengths []LengthStats `json:"lengths"`
}

// Share is the count and percentage of rows with one value of a column.
type Share struct {
	Value   string  `json:"value"`
	Count   int64   `json:"count"`
	Percent float64 `json:"percent"`
}

// LengthStats are text-length percentiles of one column, in characters.
type LengthStats struct {
	Column string `json:"column"`
	P50    int    `json:"p50"`
	P90    int    `json:"p90"`
	P99    int    `json:"p99"`
	Max    int    `json:"max"`
}

// Inspect reads a dataset directory and summarises it; head is the number of
// rows to keep for display.
func Inspect(dir string, head int) (*Inspection, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		if errors.Is(err, ErrIncomplete) {
			if e := notADataset(dir); e != nil {
				return nil, e
			}
		}
		return nil, err
	}
	in := &Inspection{Dir: dir, Manifest: m, Head: []json.RawMessage{}}
	if len(m.Shards) > 0 {
		if in.Schema, err = shardSchema(filepath.Join(dir, m.Shards[0].File)); err != nil {
			return nil, err
		}
	}
	switch m.Kind {
	case KindQA:
		err = inspectRows(in, head, func(r QA) (string, string, []string) {
			return r.Category, r.Lang, []string{r.Question, r.Context, r.Answer}
		}, "question", "context", "answer")
	case KindPrompt:
		err = inspectRows(in, head, func(r Prompt) (string, string, []string) { return r.Task, r.Lang, []string{r.Prompt} }, "prompt")
	case KindSFT:
		err = inspectRows(in, head, func(r SFT) (string, string, []string) { return r.Task, r.Lang, []string{r.Prompt, r.Response} }, "prompt", "response")
	case KindComparison:
		err = inspectRows(in, head, func(r Comparison) (string, string, []string) {
			return r.Task, r.Lang, []string{r.Prompt, r.Chosen, r.Rejected}
		}, "prompt", "chosen", "rejected")
	case KindResponse:
		err = inspectRows(in, head, func(r Response) (string, string, []string) { return "", "", []string{r.Prompt, r.Response} }, "prompt", "response")
	default:
		return nil, fmt.Errorf("%s: unknown dataset kind %q", dir, m.Kind)
	}
	if err != nil {
		return nil, err
	}
	return in, nil
}

func shardSchema(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return "", fmt.Errorf("%s: not a readable Parquet file: %w", path, err)
	}
	return pf.Schema().String(), nil
}

// inspectRows streams a dataset of kind T; fields returns the category
// (task) column, the language and the text columns named by cols.
func inspectRows[T Record](in *Inspection, head int, fields func(T) (string, string, []string), cols ...string) error {
	r, err := Open[T](in.Dir)
	if err != nil {
		return err
	}
	defer r.Close()
	tasks, langs := map[string]int64{}, map[string]int64{}
	lengths := make([][]int, len(cols))
	var n int64
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		n++
		if len(in.Head) < head {
			raw, _ := json.Marshal(row)
			in.Head = append(in.Head, raw)
		}
		task, lang, texts := fields(row)
		tasks[task]++
		langs[lang]++
		for i, t := range texts {
			lengths[i] = append(lengths[i], utf8.RuneCountInString(t))
		}
	}
	if !(len(tasks) == 1 && tasks[""] > 0) {
		in.Tasks = shares(tasks, n)
	}
	if !(len(langs) == 1 && langs[""] > 0) {
		in.Langs = shares(langs, n)
	}
	for i, c := range cols {
		in.Lengths = append(in.Lengths, lengthStats(c, lengths[i]))
	}
	return nil
}

func shares(counts map[string]int64, total int64) []Share {
	out := make([]Share, 0, len(counts))
	for v, c := range counts {
		out = append(out, Share{Value: v, Count: c, Percent: 100 * float64(c) / float64(max(total, 1))})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Value < out[j].Value
	})
	return out
}

// Percentile returns the p-th percentile (0-100) of sorted values by the
// nearest-rank method; 0 for an empty slice.
func Percentile(sorted []int, p float64) int {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func lengthStats(col string, v []int) LengthStats {
	sort.Ints(v)
	s := LengthStats{Column: col, P50: Percentile(v, 50), P90: Percentile(v, 90), P99: Percentile(v, 99)}
	if len(v) > 0 {
		s.Max = v[len(v)-1]
	}
	return s
}

// WriteText prints the inspection for people.
func (in *Inspection) WriteText(w io.Writer) {
	m := in.Manifest
	fmt.Fprintf(w, "dataset   %s\n", in.Dir)
	fmt.Fprintf(w, "kind      %s (schema v%d)\n", m.Kind, m.SchemaVersion)
	fmt.Fprintf(w, "rows      %d in %d shard(s)\n", m.Rows, len(m.Shards))
	fmt.Fprintf(w, "created   %s by %s\n", m.CreatedAt.Format("2006-01-02 15:04:05 MST"), m.Producer)
	if len(m.Command) > 0 {
		fmt.Fprintf(w, "command   %s\n", strings.Join(m.Command, " "))
	}
	for k, v := range m.Meta {
		fmt.Fprintf(w, "meta      %s=%s\n", k, v)
	}
	for _, s := range m.Shards {
		fmt.Fprintf(w, "  %s  %8d rows  %10d bytes  sha256 %s\n", s.File, s.Rows, s.Bytes, s.SHA256[:min(16, len(s.SHA256))])
	}
	if in.Schema != "" {
		fmt.Fprintf(w, "\nschema\n%s\n", strings.TrimSpace(in.Schema))
	}
	printShares := func(title string, ss []Share) {
		if len(ss) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s\n", title)
		for _, s := range ss {
			v := s.Value
			if v == "" {
				v = "(empty)"
			}
			fmt.Fprintf(w, "  %-16s %8d  %5.1f%%\n", v, s.Count, s.Percent)
		}
	}
	if m.Kind == KindQA {
		printShares("category", in.Tasks)
	} else {
		printShares("task", in.Tasks)
	}
	printShares("lang", in.Langs)
	fmt.Fprintf(w, "\ntext length (characters)\n  %-10s %7s %7s %7s %7s\n", "column", "p50", "p90", "p99", "max")
	for _, l := range in.Lengths {
		fmt.Fprintf(w, "  %-10s %7d %7d %7d %7d\n", l.Column, l.P50, l.P90, l.P99, l.Max)
	}
	if len(in.Head) > 0 {
		fmt.Fprintf(w, "\nfirst %d row(s)\n", len(in.Head))
		for _, h := range in.Head {
			fmt.Fprintf(w, "  %s\n", h)
		}
	}
}

// InspectOptions are the options of `rlhf inspect`.
type InspectOptions struct {
	// Dirs are the dataset directories, JSONL files and lone Parquet files
	// to inspect.
	Dirs []string
	// Head is the number of rows to show. Default 5 (set by the CLI).
	Head int
	// JSON prints a JSON array of inspections instead of text.
	JSON bool
}

// textInspection is an *Inspection or a *FileInspection.
type textInspection interface{ WriteText(io.Writer) }

// RunInspect inspects every dataset directory or file and prints the
// result to w (JSON: an array of Inspection and FileInspection objects).
func RunInspect(w io.Writer, opts InspectOptions) error {
	var all []textInspection
	for _, d := range opts.Dirs {
		st, err := os.Stat(d)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: no such dataset directory or file", d)
		}
		if err != nil {
			return err
		}
		if !st.IsDir() {
			in, err := InspectFile(d, opts.Head)
			if err != nil {
				return err
			}
			all = append(all, in)
			continue
		}
		in, err := Inspect(d, opts.Head)
		if err != nil {
			return err
		}
		all = append(all, in)
	}
	if opts.JSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(all)
	}
	for i, in := range all {
		if i > 0 {
			fmt.Fprintln(w)
		}
		in.WriteText(w)
	}
	return nil
}
