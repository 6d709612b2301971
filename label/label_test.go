package label

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/dataset"
)

const fixtures = "../testdata/label"

// newStore opens a fresh database holding the fixture items p1, p2, p3
// (answers p?-a, p?-b, p?-c).
func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := OpenStore(filepath.Join(t.TempDir(), "labels.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	n, err := s.LoadResponses(context.Background(), filepath.Join(fixtures, "responses.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("loaded %d items, want 3", n)
	}
	return s
}

// rk builds a ranking of answers a, b, c of prompt p.
func rk(p string, a, b, c int) Ranking {
	return Ranking{p + "-a": a, p + "-b": b, p + "-c": c}
}

func mustAppend(t *testing.T, s *Store, sub Submission) int64 {
	t.Helper()
	id, err := s.Append(sub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func near(t *testing.T, what string, got *float64, want float64) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: got nil, want %.6f", what, want)
	}
	if math.Abs(*got-want) > 1e-9 {
		t.Fatalf("%s = %.6f, want %.6f", what, *got, want)
	}
}

// The small labelled set of the agreement tests. Answer pairs are taken in
// id order (a,b), (a,c), (b,c); judgement 1 = first better, 2 = second
// better, 0 = tie.
//
//	gold  p1: a1 b2 c3
//	alice p1: a1 b2 c3   p2: a1 b2 c3   p3: a1 b1 c2 (a,b tied)
//	bob   p1: b1 a2 c3   p2: a1 c2 b3   p3: a1 b2 c3
//
// By hand:
//   - gold agreement: alice 3/3 = 1; bob agrees on (a,c), (b,c) but not
//     (a,b): 2/3.
//   - peer agreement (pairs both order strictly): p1 2/3, p2 2/3, p3 2/2
//     (the tied pair is left out) → 6/8 = 0.75 for both.
//   - Cohen's kappa over the 9 answer pairs, ties as a third label:
//     alice 1 1 1 | 1 1 1 | 0 1 1, bob 2 1 1 | 1 1 2 | 1 1 1.
//     p_o = 6/9; p_e = (8/9)(7/9) = 56/81; kappa = (54/81-56/81)/(25/81) = -2/25 = -0.08.
//   - Krippendorff's alpha (nominal) over the same 9 units with 2 coders:
//     o_11 = 12, o_12 = o_21 = 2, o_10 = o_01 = 1; n_1 = 15, n_2 = 2, n_0 = 1, n = 18;
//     alpha = 1 - 17 * 6 / (2 * (15*2 + 15*1 + 2*1)) = 1 - 102/94 = -8/94.
func labelledSet(t *testing.T) *Store {
	s := newStore(t)
	for _, n := range []string{"alice", "bob"} {
		if _, err := s.AddLabeler(n, RoleLabeler, false); err != nil {
			t.Fatal(err)
		}
	}
	mustAppend(t, s, Submission{Labeler: "boss", GroupID: "p1", Kind: KindGold, Ranks: rk("p1", 1, 2, 3)})
	mustAppend(t, s, Submission{Labeler: "alice", GroupID: "p1", Kind: KindRank, Ranks: rk("p1", 1, 2, 3), Seconds: 10})
	mustAppend(t, s, Submission{Labeler: "alice", GroupID: "p2", Kind: KindRank, Ranks: rk("p2", 1, 2, 3), Seconds: 20})
	mustAppend(t, s, Submission{Labeler: "alice", GroupID: "p3", Kind: KindRank, Ranks: rk("p3", 1, 1, 2), Seconds: 30})
	mustAppend(t, s, Submission{Labeler: "bob", GroupID: "p1", Kind: KindRank, Ranks: rk("p1", 2, 1, 3), Seconds: 5})
	mustAppend(t, s, Submission{Labeler: "bob", GroupID: "p2", Kind: KindRank, Ranks: rk("p2", 1, 3, 2), Seconds: 5})
	mustAppend(t, s, Submission{Labeler: "bob", GroupID: "p3", Kind: KindRank, Ranks: rk("p3", 1, 2, 3), Seconds: 5})
	return s
}

func TestAgreementMatchesHandComputedValues(t *testing.T) {
	s := labelledSet(t)
	st, err := s.Stats(StatsOptions{Threshold: 0.8})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Labelers) != 2 || st.Labelers[0].Name != "alice" || st.Labelers[1].Name != "bob" {
		t.Fatalf("labelers = %+v", st.Labelers)
	}
	alice, bob := st.Labelers[0], st.Labelers[1]
	near(t, "alice gold agreement", alice.GoldAgreement, 1)
	near(t, "bob gold agreement", bob.GoldAgreement, 2.0/3)
	if alice.GoldPairs != 3 || bob.GoldPairs != 3 || alice.GoldItems != 1 {
		t.Fatalf("gold pairs alice %d bob %d items %d, want 3 3 1", alice.GoldPairs, bob.GoldPairs, alice.GoldItems)
	}
	near(t, "alice peer agreement", alice.PeerAgreement, 0.75)
	near(t, "bob peer agreement", bob.PeerAgreement, 0.75)
	if alice.PeerPairs != 8 || alice.PeerItems != 3 {
		t.Fatalf("alice peer pairs %d items %d, want 8 and 3", alice.PeerPairs, alice.PeerItems)
	}
	near(t, "alice peer kappa", alice.PeerKappa, -0.08)
	if len(st.Pairs) != 1 {
		t.Fatalf("pairs = %+v", st.Pairs)
	}
	near(t, "alice-bob kappa", st.Pairs[0].Kappa, -0.08)
	near(t, "alice-bob agreement", st.Pairs[0].Agreement, 0.75)
	near(t, "alpha", st.Alpha, -8.0/94)
	if st.AlphaUnits != 9 {
		t.Fatalf("alpha units %d, want 9", st.AlphaUnits)
	}
	if alice.Tasks != 3 || alice.MeanSeconds != 20 {
		t.Fatalf("alice tasks %d mean %.1f s, want 3 and 20", alice.Tasks, alice.MeanSeconds)
	}
	// Threshold 0.8: alice only warned for peers (0.75), bob for both.
	if len(alice.Warnings) != 1 || len(bob.Warnings) != 2 || !strings.Contains(bob.Warnings[0], "gold") {
		t.Fatalf("warnings alice %q bob %q", alice.Warnings, bob.Warnings)
	}

	var out bytes.Buffer
	if _, err := PrintStats(context.Background(), StatsRunOptions{DB: s.Path(), Threshold: 0.8}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"-0.085", "0.667 (3)", "0.750 (8)", "-0.080", "below 0.80"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stats output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestAgreementFormulas(t *testing.T) {
	// Three coders on unit 1 (all label 1), on unit 2 labels 1, 1, 2:
	// o_11 = 6*(1/2) + 2*(1/2) = 4, o_12 = o_21 = 1; n_1 = 5, n_2 = 1, n = 6;
	// alpha = 1 - 5 * 2 / (2*5*1) = 0.
	if a := KrippendorffAlpha([][]int{{1, 1, 1}, {1, 1, 2}, {7}}); math.Abs(a) > 1e-12 {
		t.Errorf("alpha = %v, want 0", a)
	}
	if a := KrippendorffAlpha([][]int{{1, 1}, {2, 2}}); a != 1 {
		t.Errorf("alpha of perfect agreement = %v, want 1", a)
	}
	if k := CohenKappa([]int{1, 2, 1, 2}, []int{1, 2, 1, 2}); k != 1 {
		t.Errorf("kappa of perfect agreement = %v, want 1", k)
	}
	// a: 1 1 2 2, b: 1 2 1 2: p_o = 1/2, p_e = 1/2 → 0.
	if k := CohenKappa([]int{1, 1, 2, 2}, []int{1, 2, 1, 2}); k != 0 {
		t.Errorf("kappa = %v, want 0", k)
	}
	if !math.IsNaN(CohenKappa(nil, nil)) {
		t.Error("kappa of no units should be NaN")
	}
	ag, tot := PairAgreement(Ranking{"x": 1, "y": 2, "z": 2}, Ranking{"x": 2, "y": 1, "z": 3})
	// (x,y) disagree, (x,z) agree, (y,z) tied in the first: left out.
	if ag != 1 || tot != 2 {
		t.Errorf("PairAgreement = %d/%d, want 1/2", ag, tot)
	}
}

func TestSubmissionsAreAppendOnlyAndUndoable(t *testing.T) {
	s := newStore(t)
	id := mustAppend(t, s, Submission{Labeler: "alice", GroupID: "p1", Kind: KindRank, Ranks: rk("p1", 3, 1, 2)})
	if _, err := s.db.Exec(`UPDATE submissions SET labeler = 'mallory' WHERE id = ?`, id); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("UPDATE of a submission: err = %v, want append-only refusal", err)
	}
	if _, err := s.db.Exec(`DELETE FROM submissions`); err == nil {
		t.Fatal("DELETE of submissions succeeded")
	}
	mustAppend(t, s, Submission{Labeler: "alice", GroupID: "p1", Kind: KindUndo, Undoes: id})
	st, _ := s.State()
	if _, ok := st.Active["alice"]["p1"]; ok {
		t.Fatal("undone ranking still active")
	}
	subs, _ := s.Submissions()
	if len(subs) != 2 {
		t.Fatalf("%d rows, want the rank and the undo", len(subs))
	}
	var mode string
	s.db.QueryRow("PRAGMA journal_mode").Scan(&mode)
	if mode != "wal" {
		t.Fatalf("journal_mode %q, want wal", mode)
	}
	// Bad rankings are refused with the group named.
	for _, bad := range []Ranking{rk("p1", 1, 2, 4), {"p1-a": 1, "p1-b": 2}, {"p1-a": 1, "p1-b": 2, "x": 3}} {
		if _, err := s.Append(Submission{Labeler: "alice", GroupID: "p1", Kind: KindRank, Ranks: bad}); err == nil || !strings.Contains(err.Error(), "p1") {
			t.Errorf("ranking %v: err = %v", bad, err)
		}
	}
	// Ranks are stored dense: 1, 3, 3 → 1, 2, 2.
	mustAppend(t, s, Submission{Labeler: "alice", GroupID: "p2", Kind: KindRank, Ranks: rk("p2", 1, 3, 3)})
	st, _ = s.State()
	if got := st.Active["alice"]["p2"].Ranks; got["p2-b"] != 2 || got["p2-c"] != 2 {
		t.Fatalf("ranks %v, want dense 1 2 2", got)
	}
}

func TestTokensAreStoredHashed(t *testing.T) {
	s := newStore(t)
	var out bytes.Buffer
	s.Close()
	if err := AddLabeler(AddLabelerOptions{DB: s.Path(), Name: "alice"}, &out); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(out.String()[strings.LastIndex(strings.TrimSpace(out.String()), "\n")+1:])
	if !strings.HasPrefix(token, "rlhf_") {
		t.Fatalf("printed token %q", token)
	}
	for _, f := range []string{s.Path(), s.Path() + "-wal"} {
		raw, _ := os.ReadFile(f)
		if bytes.Contains(raw, []byte(token)) {
			t.Fatalf("%s holds the plain token", f)
		}
	}
	s2, err := OpenStore(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if l, err := s2.Authenticate(token); err != nil || l.Name != "alice" || l.Role != RoleLabeler {
		t.Fatalf("Authenticate = %+v, %v", l, err)
	}
	if _, err := s2.Authenticate(token + "x"); err == nil {
		t.Fatal("a wrong token was accepted")
	}
	if err := AddLabeler(AddLabelerOptions{DB: s.Path(), Name: "alice"}, &out); err == nil {
		t.Fatal("adding alice twice succeeded")
	}
	if err := AddLabeler(AddLabelerOptions{DB: s.Path(), Name: "<script>"}, &out); err == nil {
		t.Fatal("a name with markup was accepted")
	}
}

func TestExportExpandsGroupsAndFiltersLabelers(t *testing.T) {
	s := labelledSet(t)
	out := filepath.Join(t.TempDir(), "cmp")
	rep, err := Export(context.Background(), ExportOptions{DB: s.Path(), Out: out})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := dataset.ReadAll[dataset.Comparison](out)
	if err != nil {
		t.Fatal(err)
	}
	// 6 groups of K=3: 3 pairs each, minus alice's tie on p3 → 17.
	if rep.Groups != 6 || len(rows) != 17 || rep.Rows != 17 {
		t.Fatalf("groups %d rows %d (%d), want 6 and 17", rep.Groups, len(rows), rep.Rows)
	}
	groups := map[string]int{}
	for _, r := range rows {
		groups[r.GroupID]++
		if r.ChosenRank >= r.RejectedRank || r.ChosenRank < 1 {
			t.Fatalf("row ranks %d vs %d", r.ChosenRank, r.RejectedRank)
		}
		if r.Source != "alice" && r.Source != "bob" {
			t.Fatalf("source %q", r.Source)
		}
		if r.ID != dataset.ContentID(r.Key()...) {
			t.Fatal("row id is not its content id")
		}
	}
	if groups[ExportGroupID("p3", "alice")] != 2 || groups[ExportGroupID("p1", "bob")] != 3 {
		t.Fatalf("group sizes %v", groups)
	}
	// Bob's chosen/rejected on p1: b over a, b over c, a over c.
	want := map[[2]string]bool{{"The sky is <b>green</b> <script>window.pwned=1</script>", "Blue."}: true}
	for _, r := range rows {
		if r.Source == "bob" && r.GroupID == ExportGroupID("p1", "bob") && r.Rejected == "Blue." {
			if !want[[2]string{r.Chosen, r.Rejected}] || r.ChosenRank != 1 || r.RejectedRank != 2 {
				t.Fatalf("bob p1 row %+v", r)
			}
		}
	}

	// --min-agreement 0.7 drops bob (gold agreement 2/3).
	rep, err = Export(context.Background(), ExportOptions{DB: s.Path(), Out: out, MinAgreement: 0.7, IncludeGold: true})
	if err != nil {
		t.Fatal(err)
	}
	rows, _ = dataset.ReadAll[dataset.Comparison](out)
	sources := map[string]int{}
	for _, r := range rows {
		sources[r.Source]++
	}
	if len(rep.Excluded) != 1 || rep.Excluded[0] != "bob" || sources["bob"] != 0 || sources["alice"] != 8 || sources["gold"] != 3 {
		t.Fatalf("excluded %v, sources %v", rep.Excluded, sources)
	}
}

func TestGoldFile(t *testing.T) {
	s := newStore(t)
	var out bytes.Buffer
	if err := ImportGoldFile(context.Background(), GoldOptions{DB: s.Path(), From: filepath.Join(fixtures, "gold.jsonl")}, &out); err != nil {
		t.Fatal(err)
	}
	st, _ := s.State()
	if g := st.Gold["p1"]; g.Ranks["p1-a"] != 1 || g.Ranks["p1-c"] != 3 || g.Labeler != "gold-file" {
		t.Fatalf("gold = %+v", g)
	}
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte(`{"prompt_id":"p2","order":["p2-a","p2-b","p2-c"]}`+"\n"+`{"prompt_id":"p2","order":["p2-a"]}`+"\n"), 0o644)
	err := ImportGoldFile(context.Background(), GoldOptions{DB: s.Path(), From: bad}, &out)
	if err == nil || !strings.Contains(err.Error(), "bad.jsonl:2") {
		t.Fatalf("err = %v, want one naming bad.jsonl:2", err)
	}
	st, _ = s.State()
	if _, ok := st.Gold["p2"]; ok {
		t.Fatal("a bad gold file recorded its good lines")
	}
}

// TestLabelConversation: responses to a conversation keep its history in
// the labelling database (shown with the task) and in the exported
// comparisons; a database made before the history column opens, its items
// single-turn.
func TestLabelConversation(t *testing.T) {
	dir := t.TempDir()
	h := `[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]`
	resp := filepath.Join(dir, "resp.jsonl")
	line := func(id, answer string) string {
		b, _ := json.Marshal(map[string]string{"id": id, "prompt_id": "c1", "prompt": "Sky?", "history": h, "response": answer})
		return string(b) + "\n"
	}
	os.WriteFile(resp, []byte(line("c1-a", "Blue.")+line("c1-b", "Green.")), 0o644)
	s, err := OpenStore(filepath.Join(dir, "labels.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.LoadResponses(context.Background(), resp); err != nil || n != 1 {
		t.Fatalf("load: %d %v", n, err)
	}
	it, err := s.Item("c1")
	if err != nil || dataset.EncodeHistory(it.History) != h {
		t.Fatalf("item %+v %v", it, err)
	}
	if _, err := s.AddLabeler("alice", RoleLabeler, false); err != nil {
		t.Fatal(err)
	}
	items, _ := s.Items()
	st, err := s.State()
	if err != nil {
		t.Fatal(err)
	}
	task := nextTask(items, st, &Labeler{Name: "alice", Role: RoleLabeler}, 1, 0, leases{})
	if task.GroupID != "c1" || len(task.History) != 3 || task.History[2].Content != "Hello" {
		t.Fatalf("task %+v", task)
	}
	mustAppend(t, s, Submission{Labeler: "alice", GroupID: "c1", Kind: KindRank, Ranks: Ranking{"c1-a": 1, "c1-b": 2}})
	out := filepath.Join(dir, "cmp")
	if _, err := Export(context.Background(), ExportOptions{DB: s.Path(), Out: out}); err != nil {
		t.Fatal(err)
	}
	rows, err := dataset.ReadAll[dataset.Comparison](out)
	if err != nil || len(rows) != 1 || rows[0].History != h || rows[0].Chosen != "Blue." {
		t.Fatalf("exported %+v %v", rows, err)
	}

	// An older database: items without the history column.
	old := filepath.Join(dir, "old.db")
	db, err := sql.Open("sqlite", "file:"+old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE items(seq INTEGER PRIMARY KEY AUTOINCREMENT, group_id TEXT NOT NULL UNIQUE, prompt TEXT NOT NULL, lang TEXT NOT NULL, responses TEXT NOT NULL, added_at TEXT NOT NULL);
INSERT INTO items(group_id, prompt, lang, responses, added_at) VALUES('g', 'p', 'en', '[{"id":"a","text":"x"},{"id":"b","text":"y"}]', '2026-01-01T00:00:00Z');`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	so, err := OpenStore(old)
	if err != nil {
		t.Fatalf("an older database: %v", err)
	}
	defer so.Close()
	if it, err := so.Item("g"); err != nil || it.Prompt != "p" || len(it.History) != 0 {
		t.Fatalf("older item %+v %v", it, err)
	}
}
