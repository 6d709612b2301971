package label

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/rlhf-project/rlhf/dataset"
)

func readComparisons(t *testing.T, dir string) []dataset.Comparison {
	t.Helper()
	rows, err := dataset.ReadAll[dataset.Comparison](dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := dataset.ReadManifest(dir)
	if err != nil || m.Kind != dataset.KindComparison {
		t.Fatalf("manifest %+v, %v", m, err)
	}
	for _, r := range rows {
		if r.ID != dataset.ContentID(r.Key()...) || r.Prompt == "" || r.Chosen == "" || r.Rejected == "" || r.Chosen == r.Rejected {
			t.Fatalf("invalid row %+v", r)
		}
		if r.GroupID != "" && (r.ChosenRank < 1 || r.ChosenRank >= r.RejectedRank) {
			t.Fatalf("grouped row with ranks %d, %d", r.ChosenRank, r.RejectedRank)
		}
	}
	return rows
}

func TestFromVotes(t *testing.T) {
	qa := filepath.Join(fixtures, "qa.jsonl")
	out := filepath.Join(t.TempDir(), "votes")
	// basil: 120, 100, 30, 1 votes; sky: 50, 5 (and one without votes).
	rep, err := FromVotes(context.Background(), VotesOptions{QA: []string{qa}, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	rows := readComparisons(t, out)
	if rep.Groups != 2 || len(rows) != 6+1 || rep.NoVotes != 2 {
		t.Fatalf("report %+v, %d rows; want 2 groups, 7 rows, 2 answers without votes", rep, len(rows))
	}
	for _, r := range rows {
		if r.Source != "votes" || r.Task != "open_qa" {
			t.Fatalf("row %+v", r)
		}
		if strings.HasPrefix(r.Chosen, "Give it six hours") && r.ChosenRank != 1 {
			t.Fatalf("the most voted answer has rank %d", r.ChosenRank)
		}
		if strings.HasPrefix(r.Prompt, "为什么") && r.Lang != "zh" {
			t.Fatalf("lang %q", r.Lang)
		}
	}

	// --min-vote-ratio 2 --min-votes 10: 120 vs 100 is too close, 30 vs 1
	// is 30x but 30 votes pass; 120>30, 120>1, 100>30, 100>1, 30>1, 50>5.
	// --min-votes 40: 30>1 goes (30 < 40).
	rep, err = FromVotes(context.Background(), VotesOptions{QA: []string{qa}, Out: out, MinVoteRatio: 2, MinVotes: 40})
	if err != nil {
		t.Fatal(err)
	}
	rows = readComparisons(t, out)
	if len(rows) != 5 {
		t.Fatalf("%d rows with ratio 2 and 40 votes, want 5", len(rows))
	}
	for _, r := range rows {
		if strings.HasPrefix(r.Chosen, "Give it") && strings.HasPrefix(r.Rejected, "Pinch") {
			t.Fatal("120 vs 100 votes kept despite --min-vote-ratio 2")
		}
		if strings.HasPrefix(r.Chosen, "Water it") {
			t.Fatal("30-vote answer chosen despite --min-votes 40")
		}
	}
	if _, err := FromVotes(context.Background(), VotesOptions{QA: []string{qa}, Out: out, MinVoteRatio: 0.5}); err == nil || !strings.Contains(err.Error(), "MinVoteRatio") {
		t.Fatalf("ratio 0.5: %v", err)
	}
}

func TestImportHH(t *testing.T) {
	out := filepath.Join(t.TempDir(), "hh")
	rep, err := Import(context.Background(), ImportOptions{Format: FormatHH, In: []string{filepath.Join(fixtures, "hh.jsonl")}, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	rows := readComparisons(t, out)
	if len(rows) != 2 || rep.Skipped != 2 || rep.Read != 4 {
		t.Fatalf("report %+v, %d rows; want 2 rows, 2 skipped", rep, len(rows))
	}
	owl := rows[1]
	if owl.Prompt != "Human: Hi\n\nAssistant: Hello! How can I help?\n\nHuman: Tell me a fact about owls.\n\nAssistant:" ||
		owl.Chosen != "Owls can turn their heads about 270 degrees." || owl.Rejected != "Owls are fish." {
		t.Fatalf("split %+v", owl)
	}
	if owl.Source != "hh" || owl.GroupID != "" || owl.ChosenRank != 0 || owl.Lang != "en" {
		t.Fatalf("plain pair columns %+v", owl)
	}
}

func TestImportTRLJSONLAndParquet(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "trl")
	if _, err := Import(context.Background(), ImportOptions{Format: FormatTRL, In: []string{filepath.Join(fixtures, "trl.jsonl")}, Out: out, Source: "trl-demo", Task: "open_qa"}); err != nil {
		t.Fatal(err)
	}
	rows := readComparisons(t, out)
	if len(rows) != 2 || rows[0].Chosen != "Merci." || rows[0].Source != "trl-demo" || rows[0].Task != "open_qa" {
		t.Fatalf("rows %+v", rows)
	}

	// The same data as Parquet, with an extra column the importer ignores.
	type trlParquet struct {
		Prompt   string `parquet:"prompt"`
		Chosen   string `parquet:"chosen"`
		Rejected string `parquet:"rejected"`
		Score    int64  `parquet:"score"`
	}
	pq := filepath.Join(dir, "train.parquet")
	if err := parquet.WriteFile(pq, []trlParquet{{"Translate 'thank you' into French.", "Merci.", "Gracias.", 3}, {"What is 2+2?", "4", "5", 1}}); err != nil {
		t.Fatal(err)
	}
	out2 := filepath.Join(dir, "trl-pq")
	if _, err := Import(context.Background(), ImportOptions{Format: FormatTRL, In: []string{pq}, Out: out2, Source: "trl-demo", Task: "open_qa"}); err != nil {
		t.Fatal(err)
	}
	rows2 := readComparisons(t, out2)
	if len(rows2) != 2 || rows2[0].ID != rows[0].ID || rows2[1].ID != rows[1].ID {
		t.Fatalf("parquet rows differ from JSONL rows: %+v", rows2)
	}

	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"prompt":"p","chosen":"a","rejected":"b"}`+"\n"+`{"prompt":"p","chosen":"a"}`+"\n"), 0o644)
	if _, err := Import(context.Background(), ImportOptions{Format: FormatTRL, In: []string{bad}, Out: filepath.Join(dir, "bad")}); err == nil || !strings.Contains(err.Error(), "bad.jsonl:2") {
		t.Fatalf("err = %v, want one naming bad.jsonl:2", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad")); !os.IsNotExist(err) {
		t.Fatal("a failed import left an output directory")
	}
}

func TestImportRanked(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ranked")
	if _, err := Import(context.Background(), ImportOptions{Format: FormatRanked, In: []string{filepath.Join(fixtures, "ranked.jsonl")}, Out: out}); err != nil {
		t.Fatal(err)
	}
	rows := readComparisons(t, out)
	// Bakery: ranks 1,3,1,2 → dense 1,3,1,2; C(4,2)=6 pairs minus the tie = 5. Synonym: 1.
	if len(rows) != 6 {
		t.Fatalf("%d rows, want 6", len(rows))
	}
	groups := map[string]int{}
	for _, r := range rows {
		groups[r.GroupID]++
		if r.Chosen == "Bakery" {
			t.Fatalf("the worst answer was chosen: %+v", r)
		}
		if r.Rejected == "Bakery" && r.RejectedRank != 3 {
			t.Fatalf("Bakery rank %d, want 3", r.RejectedRank)
		}
	}
	if len(groups) != 2 {
		t.Fatalf("groups %v, want 2", groups)
	}
	if _, err := Import(context.Background(), ImportOptions{Format: "csv", In: []string{"x"}, Out: out}); err == nil || !strings.Contains(err.Error(), "Format") {
		t.Fatalf("unknown format: %v", err)
	}
}
