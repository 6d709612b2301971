package label

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/dataset"
)

func TestBigramF1(t *testing.T) {
	if got := BigramF1("长城很长", "长城很长"); got != 1 {
		t.Fatalf("equal texts: %v", got)
	}
	if got := BigramF1("abc", "xyz"); got != 0 {
		t.Fatalf("disjoint: %v", got)
	}
	// "abcd" has ab bc cd; "abce" has ab bc ce: 2 shared of 3 each → F1 2/3.
	if got := BigramF1("abcd", "abce"); math.Abs(got-2.0/3) > 1e-12 {
		t.Fatalf("abcd/abce: %v", got)
	}
}

func TestCompetitionRanks(t *testing.T) {
	got := CompetitionRanks([]float64{0.5, 0.9, 0.5, 0.1})
	want := []int{2, 1, 2, 4}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ranks %v, want %v", got, want)
		}
	}
}

func TestSyntheticComparisons(t *testing.T) {
	dir := t.TempDir()
	resp := filepath.Join(dir, "resp")
	w, _ := dataset.Create[dataset.Response](resp, dataset.WriterOptions{})
	w.Write(
		dataset.Response{PromptID: "p1", Prompt: "介绍长城", Response: "长城是古代的防御工程", SampleIndex: 0},
		dataset.Response{PromptID: "p1", Prompt: "介绍长城", Response: "我不知道", SampleIndex: 1},
		dataset.Response{PromptID: "p1", Prompt: "介绍长城", Response: "长城是工程", SampleIndex: 2},
		dataset.Response{PromptID: "p2", Prompt: "no reference here", Response: "a", SampleIndex: 0},
		dataset.Response{PromptID: "p2", Prompt: "no reference here", Response: "b", SampleIndex: 1},
		dataset.Response{PromptID: "p2", Prompt: "no reference here", Response: " ", SampleIndex: 2},
	)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(dir, "ref")
	ws, _ := dataset.Create[dataset.SFT](ref, dataset.WriterOptions{})
	ws.Write(dataset.SFT{Task: "open_qa", Lang: "zh", Prompt: "介绍长城", Response: "长城是中国古代的防御工程"})
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "cmp")
	rep, err := Synthetic(context.Background(), SyntheticOptions{Responses: []string{resp}, Reference: []string{ref}, Out: out, Prefer: "reference", IncludeReference: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Groups != 1 || rep.NoReference != 1 || rep.Rows != 6 || rep.Empty != 1 { // K=4 with the reference: C(4,2)=6
		t.Fatalf("report %+v", rep)
	}
	rows, err := dataset.ReadAll[dataset.Comparison](out)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.ChosenRank >= r.RejectedRank || r.Task != "open_qa" || r.Lang != "zh" || r.GroupID != rows[0].GroupID {
			t.Fatalf("bad row %+v", r)
		}
		if r.Chosen == "我不知道" {
			t.Fatalf("the answer sharing nothing with the reference was preferred: %+v", r)
		}
		if r.Rejected == "长城是中国古代的防御工程" {
			t.Fatalf("the reference itself was rejected: %+v", r)
		}
	}

	out2 := filepath.Join(dir, "cmp2")
	if _, err := Synthetic(context.Background(), SyntheticOptions{Responses: []string{resp}, Out: out2, Prefer: "length=1"}); err != nil {
		t.Fatal(err)
	}
	rows, _ = dataset.ReadAll[dataset.Comparison](out2)
	// p1: three different lengths → 3 pairs; p2: "a" and "b" tie → none.
	if len(rows) != 3 || rows[0].Chosen != "我不知道" {
		t.Fatalf("length rule rows %+v", rows)
	}

	// gold: the weighted sum of rule rewards against the reference ranks
	// p1's answers (recall of the reference's characters, plus 2 for
	// mentioning 古代); p2 has no reference and is skipped.
	out3 := filepath.Join(dir, "cmp3")
	rep, err = Synthetic(context.Background(), SyntheticOptions{Responses: []string{resp}, Reference: []string{ref}, Out: out3,
		Prefer: "gold", GoldFns: []string{"recall", "regex:古代"}, GoldWeights: []float64{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	rows, _ = dataset.ReadAll[dataset.Comparison](out3)
	if rep.NoReference != 1 || len(rows) != 3 || rows[0].Chosen != "长城是古代的防御工程" || rows[0].Source != "synthetic:gold" {
		t.Fatalf("gold rule: report %+v rows %+v", rep, rows)
	}
	for _, r := range rows {
		if r.Rejected == "长城是古代的防御工程" || r.Chosen == "我不知道" {
			t.Fatalf("gold rule misranked: %+v", r)
		}
	}
	for _, c := range []struct {
		o    SyntheticOptions
		want string
	}{
		{SyntheticOptions{Prefer: "gold"}, "(GoldFns)"},
		{SyntheticOptions{Prefer: "gold", GoldFns: []string{"nosuch"}}, `reward function "nosuch"`},
		{SyntheticOptions{Prefer: "gold", GoldFns: []string{"recall"}, GoldWeights: []float64{1, 2}}, "2 weights for 1 rules"},
		{SyntheticOptions{Prefer: "length=3", GoldFns: []string{"recall"}}, "under Prefer gold only"},
	} {
		c.o.Responses, c.o.Reference, c.o.Out = []string{resp}, []string{ref}, filepath.Join(dir, "cmp4")
		if _, err := Synthetic(context.Background(), c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: want an error with %q, got %v", c.o, c.want, err)
		}
	}

	for _, bad := range []string{"", "keyword=", "length=x", "vibes", "gold=x"} {
		_, err := Synthetic(context.Background(), SyntheticOptions{Responses: []string{resp}, Out: out2, Prefer: bad})
		if err == nil || !strings.Contains(err.Error(), "Prefer") {
			t.Errorf("rule %q: want a --prefer error, got %v", bad, err)
		}
	}
	if _, err := Synthetic(context.Background(), SyntheticOptions{Responses: []string{resp}, Out: out2, Prefer: "reference"}); err == nil || !strings.Contains(err.Error(), "Reference") {
		t.Errorf("reference rule without --reference: %v", err)
	}
}

// TestSyntheticKeepsHistory: responses to a conversation (prompt rows with
// a history) become comparisons with that history, matched to the
// reference of the same conversation, not of the same last turn alone.
func TestSyntheticKeepsHistory(t *testing.T) {
	dir := t.TempDir()
	h := dataset.EncodeHistory([]dataset.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Hello"}})
	resp := filepath.Join(dir, "resp")
	w, _ := dataset.Create[dataset.Response](resp, dataset.WriterOptions{})
	w.Write(
		dataset.Response{PromptID: "p1", Prompt: "Sky?", History: h, Response: "Blue.", SampleIndex: 0},
		dataset.Response{PromptID: "p1", Prompt: "Sky?", History: h, Response: "It is green.", SampleIndex: 1},
	)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(dir, "ref")
	ws, _ := dataset.Create[dataset.SFT](ref, dataset.WriterOptions{})
	ws.Write(dataset.SFT{Task: "chat", Lang: "en", Prompt: "Sky?", Response: "It is green."},
		dataset.SFT{Task: "chat", Lang: "en", Prompt: "Sky?", History: h, Response: "Blue."})
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "cmp")
	if _, err := Synthetic(context.Background(), SyntheticOptions{Responses: []string{resp}, Reference: []string{ref}, Out: out, Prefer: "reference"}); err != nil {
		t.Fatal(err)
	}
	rows, err := dataset.ReadAll[dataset.Comparison](out)
	if err != nil || len(rows) != 1 || rows[0].History != h || rows[0].Chosen != "Blue." {
		t.Fatalf("rows %+v, %v", rows, err)
	}
}
