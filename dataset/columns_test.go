package dataset

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

// sameAsGeneric writes rows with the dataset writer (column-wise) and checks
// that parquet-go's own row-wise reader sees exactly the rows that the
// dataset reader (column-wise) returns.
func sameAsGeneric[T Record](t *testing.T, rows []T) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), string(KindOf[T]()))
	writeAll(t, dir, WriterOptions{RowsPerShard: 150, RowGroupRows: 40}, rows)
	got, err := ReadAll[T](dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	var generic []T
	for _, s := range m.Shards {
		part, err := parquet.ReadFile[T](filepath.Join(dir, s.File))
		if err != nil {
			t.Fatal(err)
		}
		generic = append(generic, part...)
	}
	if len(got) != len(rows) || !reflect.DeepEqual(got, generic) {
		t.Fatalf("%s: column-wise read differs from parquet-go's generic read (%d vs %d rows)", KindOf[T](), len(got), len(generic))
	}
	for i := range rows {
		if want := WithID(rows[i]); !reflect.DeepEqual(got[i], want) {
			t.Fatalf("%s row %d:\n got %+v\nwant %+v", KindOf[T](), i, got[i], want)
		}
	}
}

// TestColumnWisePathMatchesGeneric covers every field type: strings
// (empty, Chinese, long enough to span pages), int32, int64 and float64
// pointers with nulls, float64 and a microsecond timestamp.
func TestColumnWisePathMatchesGeneric(t *testing.T) {
	long := string(bytes.Repeat([]byte("长文本"), 3000)) // pages are cut around it
	n := 333
	qas := make([]QA, n)
	prompts := make([]Prompt, n)
	sfts := make([]SFT, n)
	comps := make([]Comparison, n)
	resps := make([]Response, n)
	for i := range n {
		text := fmt.Sprintf("回答 %d", i)
		if i%50 == 7 {
			text = long
		}
		if i%11 == 0 {
			text = ""
		}
		qas[i] = QA{Site: "zhihu", URL: fmt.Sprintf("https://z.example/q/%d", i), Question: "为什么？", Answer: text,
			FetchedAt: time.Date(2026, 1, 2, 3, 4, 5, i*1000, time.UTC), Lang: "zh", ContentSHA256: SHA256Hex(text)}
		if i%3 != 0 {
			qas[i].Votes = ptr(int64(i) - 100)
		}
		prompts[i] = Prompt{Task: Tasks[i%len(Tasks)], Lang: "zh", Prompt: text + "？", Source: "t"}
		sfts[i] = SFT{Task: Tasks[i%len(Tasks)], Prompt: fmt.Sprint(i), Response: text, Template: "x"}
		comps[i] = Comparison{GroupID: fmt.Sprint(i / 6), Prompt: "p", Chosen: text, Rejected: "r" + text,
			ChosenRank: int32(i % 4), RejectedRank: int32(i%4 + 1), Task: "chat"}
		resps[i] = Response{PromptID: fmt.Sprint(i), Prompt: "p", Response: text, Model: "m",
			SampleIndex: int32(i), Logprob: -float64(i) / 7, NumTokens: int32(i * 2)}
		if i%4 != 1 {
			resps[i].Reward = ptr(float64(i) / 3)
		}
	}
	sameAsGeneric(t, qas)
	sameAsGeneric(t, prompts)
	sameAsGeneric(t, sfts)
	sameAsGeneric(t, comps)
	sameAsGeneric(t, resps)
}

// TestReadsForeignLayouts reads a file laid out the way other tools write
// one: optional (nullable) string columns, one of them null over a whole
// row group, dictionary encoding over several pages and a millisecond
// timestamp. Nulls read as empty strings.
func TestReadsForeignLayouts(t *testing.T) {
	type foreign struct {
		ID       string    `parquet:"id,optional"`
		Task     string    `parquet:"task,dict"`
		Lang     *string   `parquet:"lang,optional,dict"`
		Prompt   string    `parquet:"prompt"`
		Response *string   `parquet:"response,optional"`
		Source   string    `parquet:"source,dict"`
		Template string    `parquet:"template"`
		Extra    []float32 `parquet:"extra,list"`
	}
	var rows []foreign
	var want []SFT
	for i := range 500 {
		f := foreign{ID: fmt.Sprintf("id%d", i), Task: Tasks[i%3], Prompt: fmt.Sprintf("问题 %d", i), Source: "hf", Extra: []float32{1, 2}}
		w := SFT{ID: f.ID, Task: f.Task, Prompt: f.Prompt, Source: "hf"}
		if i%5 != 0 {
			f.Lang, w.Lang = ptr("zh"), "zh"
		}
		if i%7 != 0 && i >= 128 { // the first row group has no response at all
			f.Response = ptr(fmt.Sprintf("答 %d", i))
			w.Response = *f.Response
		}
		rows = append(rows, f)
		want = append(want, w)
	}
	path := filepath.Join(t.TempDir(), "foreign.parquet")
	var buf bytes.Buffer
	pw := parquet.NewGenericWriter[foreign](&buf, parquet.MaxRowsPerRowGroup(128), parquet.PageBufferSize(1024))
	if _, err := pw.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := bindColumns[SFT](pf.Schema()); !ok {
		t.Fatal("optional and dictionary string columns should take the column-wise path")
	}
	got, err := ReadAll[SFT](path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("foreign file read wrong:\n got %+v\nwant %+v", got[:3], want[:3])
	}

	type millis struct {
		FetchedAt time.Time `parquet:"fetched_at,timestamp(millisecond)"`
	}
	at := time.Date(2026, 5, 6, 7, 8, 9, 123_000_000, time.UTC)
	var mb bytes.Buffer
	mw := parquet.NewGenericWriter[millis](&mb)
	if _, err := mw.Write([]millis{{at}}); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	mf, err := parquet.OpenFile(bytes.NewReader(mb.Bytes()), int64(mb.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var fetched recordField
	for _, f := range recordFields[QA]() {
		if f.name == "fetched_at" {
			fetched = f
		}
	}
	fields := []columnField{{recordField: fetched, col: 0, unit: time.Millisecond}}
	back, err := decodeRowGroup[QA](mf.RowGroups()[0], fields)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 1 || !back[0].FetchedAt.Equal(at) || back[0].FetchedAt.Location() != time.UTC {
		t.Fatalf("millisecond timestamp read as %v, want %v", back[0].FetchedAt, at)
	}
}

// TestBindColumnsRefusesOtherLayouts: a repeated column or another physical
// type sends the file to parquet-go's generic reader.
func TestBindColumnsRefusesOtherLayouts(t *testing.T) {
	type repeated struct {
		ID []string `parquet:"id,list"`
	}
	type wrongType struct {
		ID          string `parquet:"id"`
		PromptID    string `parquet:"prompt_id"`
		Prompt      string `parquet:"prompt"`
		Response    string `parquet:"response"`
		Model       string `parquet:"model"`
		SampleIndex int64  `parquet:"sample_index"` // int32 in Response
		Logprob     float64
		NumTokens   int32    `parquet:"num_tokens"`
		Reward      *float64 `parquet:"reward,optional"`
	}
	if _, ok := bindColumns[SFT](parquet.SchemaOf(new(repeated))); ok {
		t.Error("a repeated id column was bound")
	}
	if _, ok := bindColumns[Response](parquet.SchemaOf(new(wrongType))); ok {
		t.Error("an int64 sample_index was bound to an int32 field")
	}
	if _, ok := bindColumns[Response](parquet.SchemaOf(new(Response))); !ok {
		t.Error("the Response schema itself was not bound")
	}
}

// TestTextColumnsHaveNoStatistics: free-text columns carry no min/max (in
// the chunk statistics or the column index); the others keep theirs.
func TestTextColumnsHaveNoStatistics(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sft")
	writeAll(t, dir, WriterOptions{}, []SFT{{Task: "chat", Lang: "zh", Prompt: "问", Response: "答", Source: "s", Template: "t"}, {Task: "rewrite", Lang: "en", Prompt: "p", Response: "r", Source: "s", Template: "u"}})
	path := filepath.Join(dir, "part-00000.parquet")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	text := map[string]bool{}
	for _, c := range textColumns[SFT]() {
		text[c[0]] = true
	}
	if !text["prompt"] || !text["response"] || !text["history"] || text["task"] || len(text) != 3 {
		t.Fatalf("text columns of sft: %v", text)
	}
	for _, cc := range pf.Metadata().RowGroups[0].Columns {
		name := cc.MetaData.PathInSchema[0]
		hasStats := len(cc.MetaData.Statistics.MaxValue) > 0
		if hasStats == text[name] {
			t.Errorf("column %q: min/max statistics %v, want %v", name, hasStats, !text[name])
		}
	}
}

// TestPromptReferenceMayBeAbsent: prompt files written before the
// reference column existed still read (the reference is empty), on the
// column-wise and the generic path; a file with it reads it back; a
// missing column that is not marked missing-ok is still refused.
func TestPromptReferenceMayBeAbsent(t *testing.T) {
	type oldPrompt struct {
		ID       string `parquet:"id"`
		Task     string `parquet:"task,dict"`
		Lang     string `parquet:"lang,dict"`
		Prompt   string `parquet:"prompt"`
		Source   string `parquet:"source,dict"`
		Template string `parquet:"template,dict"`
	}
	var buf bytes.Buffer
	pw := parquet.NewGenericWriter[oldPrompt](&buf)
	if _, err := pw.Write([]oldPrompt{{ID: "a", Task: "closed_qa", Prompt: "1+1?"}, {ID: "b", Task: "chat", Prompt: "hi"}}); err != nil {
		t.Fatal(err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.parquet")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadAll[Prompt](path)
	if err != nil {
		t.Fatalf("a prompt file without the reference column: %v", err)
	}
	want := []Prompt{{ID: "a", Task: "closed_qa", Prompt: "1+1?"}, {ID: "b", Task: "chat", Prompt: "hi"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	pf, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := bindColumns[Prompt](pf.Schema()); !ok {
		t.Error("a file without the reference column should take the column-wise path")
	}
	generic := make([]Prompt, 2)
	if n, err := parquet.NewGenericRowGroupReader[Prompt](pf.RowGroups()[0]).Read(generic); n != 2 || !reflect.DeepEqual(generic, want) {
		t.Errorf("generic path: %d rows, %v: %+v", n, err, generic)
	}

	dir := filepath.Join(t.TempDir(), "prompts")
	writeAll(t, dir, WriterOptions{}, []Prompt{{Task: "closed_qa", Prompt: "2+2?", Reference: "4"}})
	back, err := ReadAll[Prompt](dir)
	if err != nil || len(back) != 1 || back[0].Reference != "4" {
		t.Fatalf("reference round trip: %+v %v", back, err)
	}

	// Other columns stay required.
	type noTemplate struct {
		ID     string `parquet:"id"`
		Task   string `parquet:"task"`
		Lang   string `parquet:"lang"`
		Prompt string `parquet:"prompt"`
		Source string `parquet:"source"`
	}
	buf.Reset()
	nw := parquet.NewGenericWriter[noTemplate](&buf)
	nw.Write([]noTemplate{{ID: "a", Prompt: "x"}})
	nw.Close()
	os.WriteFile(path, buf.Bytes(), 0o644)
	if _, err := ReadAll[Prompt](path); err == nil || !strings.Contains(err.Error(), `missing column "template"`) {
		t.Errorf("a missing template column: %v", err)
	}
}

// writeOld writes rows of an older schema (without the history column)
// as a lone Parquet file.
func writeOld[R any](t *testing.T, rows []R) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	pw := parquet.NewGenericWriter[R](&buf)
	if _, err := pw.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.parquet")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, buf.Bytes()
}

// TestHistoryMayBeAbsent: sft, comparison and response files written
// before the history column existed still read, on the column-wise and the
// generic path, with an empty history (single-turn rows); a file with it
// reads it back.
func TestHistoryMayBeAbsent(t *testing.T) {
	type oldSFT struct {
		ID       string `parquet:"id"`
		Task     string `parquet:"task,dict"`
		Lang     string `parquet:"lang,dict"`
		Prompt   string `parquet:"prompt"`
		Response string `parquet:"response"`
		Source   string `parquet:"source,dict"`
		Template string `parquet:"template,dict"`
	}
	path, raw := writeOld(t, []oldSFT{{ID: "a", Task: "chat", Prompt: "p", Response: "r"}})
	got, err := ReadAll[SFT](path)
	if want := []SFT{{ID: "a", Task: "chat", Prompt: "p", Response: "r"}}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("old sft file: %+v %v", got, err)
	}
	pf, _ := parquet.OpenFile(bytes.NewReader(raw), int64(len(raw)))
	if _, ok := bindColumns[SFT](pf.Schema()); !ok {
		t.Error("an sft file without the history column should take the column-wise path")
	}
	generic := make([]SFT, 1)
	if n, _ := parquet.NewGenericRowGroupReader[SFT](pf.RowGroups()[0]).Read(generic); n != 1 || generic[0].History != "" || generic[0].Prompt != "p" {
		t.Errorf("generic path: %+v", generic)
	}

	type oldComparison struct {
		ID           string `parquet:"id"`
		GroupID      string `parquet:"group_id"`
		Prompt       string `parquet:"prompt"`
		Chosen       string `parquet:"chosen"`
		Rejected     string `parquet:"rejected"`
		ChosenRank   int32  `parquet:"chosen_rank"`
		RejectedRank int32  `parquet:"rejected_rank"`
		Task         string `parquet:"task,dict"`
		Lang         string `parquet:"lang,dict"`
		Source       string `parquet:"source,dict"`
	}
	path, _ = writeOld(t, []oldComparison{{ID: "c", Prompt: "p", Chosen: "a", Rejected: "b"}})
	cs, err := ReadAll[Comparison](path)
	if err != nil || len(cs) != 1 || cs[0].History != "" || cs[0].Chosen != "a" {
		t.Fatalf("old comparison file: %+v %v", cs, err)
	}

	h := EncodeHistory([]Message{{"system", "Be brief."}})
	dir := filepath.Join(t.TempDir(), "sft")
	writeAll(t, dir, WriterOptions{}, []SFT{{Prompt: "p", Response: "r", History: h}})
	back, err := ReadAll[SFT](dir)
	if err != nil || len(back) != 1 || back[0].History != h {
		t.Fatalf("history round trip: %+v %v", back, err)
	}
}
