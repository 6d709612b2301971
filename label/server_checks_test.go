package label

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rlhf-project/rlhf/dataset"
)

// newAPI serves a fresh store (items p1, p2, p3) with the named labelers
// ("boss" is the admin) and returns a client for each.
func newAPI(t *testing.T, names ...string) (*Store, map[string]*client) {
	t.Helper()
	s := newStore(t)
	tokens := addLabelers(t, s, names...)
	srv := httptest.NewServer(NewServer(s, ServeOptions{}))
	t.Cleanup(srv.Close)
	cs := map[string]*client{}
	for n, tok := range tokens {
		cs[n] = &client{t: t, base: srv.URL, token: tok}
	}
	return s, cs
}

func TestSubmitRefusesTrailingJSON(t *testing.T) {
	_, c := newAPI(t, "alice")
	tk := c["alice"].task()
	body := `{"group_id":"` + tk.GroupID + `","ranks":{"p1-a":1,"p1-b":2,"p1-c":3}} garbage{`
	var e apiError
	if code := c["alice"].call("POST", "/api/submit", body, &e); code != 400 || !strings.Contains(e.Error, "one JSON object") {
		t.Fatalf("submit with trailing data: %d %q, want 400 naming one JSON object", code, e.Error)
	}
	// Trailing white space is fine.
	body = `{"group_id":"` + tk.GroupID + `","ranks":{"p1-a":1,"p1-b":2,"p1-c":3}}` + "\n \n"
	if code := c["alice"].call("POST", "/api/submit", body, &e); code != 200 {
		t.Fatalf("submit with a trailing newline: %d %q", code, e.Error)
	}
}

func TestSubmitValidatesShown(t *testing.T) {
	s, c := newAPI(t, "alice")
	tk := c["alice"].task()
	ids := []string{tk.Answers[0].ID, tk.Answers[1].ID, tk.Answers[2].ID}
	for _, shown := range [][]string{
		{ids[0], ids[1]},                 // one missing
		{ids[0], ids[1], ids[1]},         // repeated
		{ids[0], ids[1], "p1-zzz"},       // unknown
		{ids[0], ids[1], ids[2], ids[0]}, // too many
	} {
		var e apiError
		code := c["alice"].call("POST", "/api/submit", map[string]any{"group_id": tk.GroupID, "ranks": rankShown(tk), "shown": shown}, &e)
		if code != 400 || !strings.Contains(e.Error, "shown") {
			t.Fatalf("shown %v: %d %q, want 400 naming shown", shown, code, e.Error)
		}
	}
	if st, _ := s.State(); len(st.Active["alice"]) != 0 {
		t.Fatalf("a bad shown list was recorded: %+v", st.Active["alice"])
	}
	if code := c["alice"].call("POST", "/api/submit", map[string]any{"group_id": tk.GroupID, "ranks": rankShown(tk), "shown": ids}, nil); code != 200 {
		t.Fatalf("submit with every answer shown once: %d", code)
	}
}

func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	_, c := newAPI(t, "alice")
	for _, scheme := range []string{"Bearer", "bearer", "BEARER", "bEaReR"} {
		req, _ := http.NewRequest("GET", c["alice"].base+"/api/task", nil)
		req.Header.Set("Authorization", scheme+" "+c["alice"].token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("Authorization: %s TOKEN: %d, want 200", scheme, res.StatusCode)
		}
	}
	for _, h := range []string{"Basic " + c["alice"].token, "Bearer", "Bearer" + c["alice"].token, c["alice"].token} {
		req, _ := http.NewRequest("GET", c["alice"].base+"/api/task", nil)
		req.Header.Set("Authorization", h)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Fatalf("Authorization: %.12s...: %d, want 401", h, res.StatusCode)
		}
	}
}

func TestSubmitAndSkipNeedTheItemHandedOut(t *testing.T) {
	s, c := newAPI(t, "alice", "bob")
	alice, bob := c["alice"], c["bob"]
	ta := alice.task() // p1, held by alice
	if ta.GroupID != "p1" {
		t.Fatalf("alice got %s, want p1", ta.GroupID)
	}
	rank := func(g string) Ranking { return rk(g, 1, 2, 3) }
	var e apiError
	if code := alice.call("POST", "/api/submit", map[string]any{"group_id": "p2", "ranks": rank("p2")}, &e); code != 409 || !strings.Contains(e.Error, "not handed to you") {
		t.Fatalf("alice submits p2, never handed to her: %d %q, want 409", code, e.Error)
	}
	if code := bob.call("POST", "/api/submit", map[string]any{"group_id": "p1", "ranks": rank("p1")}, &e); code != 409 {
		t.Fatalf("bob submits alice's p1: %d %q, want 409", code, e.Error)
	}
	if code := bob.call("POST", "/api/skip", map[string]any{"group_id": "p1"}, &e); code != 409 {
		t.Fatalf("bob skips alice's p1: %d %q, want 409", code, e.Error)
	}
	if code := alice.call("POST", "/api/submit", map[string]any{"group_id": "nope", "ranks": rank("p1")}, &e); code != 400 || !strings.Contains(e.Error, "nope") {
		t.Fatalf("submit of an unknown group: %d %q, want 400", code, e.Error)
	}
	if code := alice.call("POST", "/api/submit", map[string]any{"group_id": "p1", "ranks": rank("p1")}, &e); code != 200 {
		t.Fatalf("alice submits her p1: %d %q", code, e.Error)
	}
	// Submitting hands the item back: a second submit or a skip of it is
	// refused, so a double click records one ranking.
	if code := alice.call("POST", "/api/submit", map[string]any{"group_id": "p1", "ranks": rank("p1")}, &e); code != 409 {
		t.Fatalf("alice submits p1 twice: %d %q, want 409", code, e.Error)
	}
	if code := alice.call("POST", "/api/skip", map[string]any{"group_id": "p1"}, &e); code != 409 {
		t.Fatalf("alice skips p1 after submitting it: %d %q, want 409", code, e.Error)
	}
	subs, _ := s.Submissions()
	if len(subs) != 1 || subs[0].Labeler != "alice" || subs[0].GroupID != "p1" || subs[0].Seconds <= 0 {
		t.Fatalf("submissions %+v, want alice's one ranking of p1 with its time", subs)
	}
}

// loadItems adds n items of two answers each (groups g0000, g0001, ...).
func loadItems(t *testing.T, s *Store, n int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "responses.jsonl")
	var b strings.Builder
	enc := json.NewEncoder(&b)
	for i := 0; i < n; i++ {
		g := fmt.Sprintf("g%04d", i)
		for j := 0; j < 2; j++ {
			enc.Encode(dataset.Response{ID: fmt.Sprintf("%s-%d", g, j), PromptID: g, Prompt: "Prompt " + g, Response: fmt.Sprintf("answer %d of %s", j, g), Model: "tiny"})
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadResponses(context.Background(), path); err != nil {
		t.Fatal(err)
	}
}

// getTask fetches /api/task without testing.T, for use in goroutines.
func getTask(base, token string) (Task, error) {
	req, _ := http.NewRequest("GET", base+"/api/task", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return Task{}, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return Task{}, fmt.Errorf("GET /api/task: HTTP %d", res.StatusCode)
	}
	var tk Task
	return tk, json.NewDecoder(res.Body).Decode(&tk)
}

// TestTaskHandsOutEachItemOnce starts many labelers' task requests at the
// same instant (a barrier) and checks no item goes to more labelers than it
// needs: one at overlap 0, two at overlap 1.
func TestTaskHandsOutEachItemOnce(t *testing.T) {
	const labelers = 12
	names := make([]string, labelers)
	for i := range names {
		names[i] = fmt.Sprintf("l%02d", i)
	}
	for round := 0; round < 6; round++ {
		overlap, need := 0.0, 1
		if round%2 == 1 {
			overlap, need = 1, 2
		}
		s, c := newAPI(t, names...)
		// Many items make each hand-out scan long, so unsynchronised
		// requests would overlap between check and take.
		loadItems(t, s, 300)
		if err := s.SetOverlapRate(overlap, "test"); err != nil {
			t.Fatal(err)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		got := make([]Task, labelers)
		errs := make([]error, labelers)
		for i, n := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got[i], errs[i] = getTask(c[n].base, c[n].token)
			}()
		}
		close(start)
		wg.Wait()
		count := map[string]int{}
		for i := range got {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if got[i].GroupID != "" {
				count[got[i].GroupID]++
			}
		}
		for g, n := range count {
			if n > need {
				t.Fatalf("round %d (overlap %g): %s handed to %d labelers at once, want at most %d (%v)", round, overlap, g, n, need, count)
			}
		}
		if n := len(count) * need; n < labelers {
			t.Fatalf("round %d: %d items handed out %v, want %d labelers served", round, len(count), count, labelers)
		}
	}
}

func TestSkipReleasesTheItem(t *testing.T) {
	_, c := newAPI(t, "alice", "bob")
	if tk := c["alice"].task(); tk.GroupID != "p1" {
		t.Fatalf("alice got %s, want p1", tk.GroupID)
	}
	if code := c["alice"].call("POST", "/api/skip", map[string]string{"group_id": "p1"}, nil); code != 200 {
		t.Fatalf("skip: %d", code)
	}
	if tk := c["bob"].task(); tk.GroupID != "p1" {
		t.Fatalf("bob got %s after alice skipped p1, want p1 (a skipped item is no longer held)", tk.GroupID)
	}
}

// TestServeTimeSurvivesRestart hands out an item, then submits it to a new
// server over the same database (a restart): the submission keeps the time
// since the item was handed out, not 0.
func TestServeTimeSurvivesRestart(t *testing.T) {
	s := newStore(t)
	tokens := addLabelers(t, s, "alice")
	before := httptest.NewServer(NewServer(s, ServeOptions{}))
	alice := &client{t: t, base: before.URL, token: tokens["alice"]}
	tk := alice.task()
	before.Close()
	time.Sleep(50 * time.Millisecond)
	after := httptest.NewServer(NewServer(s, ServeOptions{}))
	defer after.Close()
	alice.base = after.URL
	if code := alice.call("POST", "/api/submit", map[string]any{"group_id": tk.GroupID, "ranks": rankShown(tk)}, nil); code != 200 {
		t.Fatalf("submit after restart: %d", code)
	}
	st, _ := s.State()
	if secs := st.Active["alice"][tk.GroupID].Seconds; secs < 0.05 || secs > 60 {
		t.Fatalf("seconds after restart %g, want the time since the item was handed out (>= 0.05)", secs)
	}
}

// TestExpiredLease: a labeler whose hold ran out may still submit while no
// one else was handed the item, and is refused once someone was.
func TestExpiredLease(t *testing.T) {
	s := newStore(t)
	tokens := addLabelers(t, s, "alice", "bob")
	// A fake clock the test moves past the lease: no sleeping, so a slow
	// machine cannot change what the test sees.
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	app := NewServer(s, ServeOptions{LeaseTTL: time.Minute})
	app.now = func() time.Time { return time.Unix(0, clock.Load()) }
	srv := httptest.NewServer(app)
	defer srv.Close()
	alice := &client{t: t, base: srv.URL, token: tokens["alice"]}
	bob := &client{t: t, base: srv.URL, token: tokens["bob"]}
	tk := alice.task()
	clock.Add(int64(2 * time.Minute))
	if code := alice.call("POST", "/api/submit", map[string]any{"group_id": tk.GroupID, "ranks": rankShown(tk)}, nil); code != 200 {
		t.Fatalf("submit after the lease ran out, item still free: %d, want 200", code)
	}
	tk = alice.task() // p2
	if tb := bob.task(); tb.GroupID == tk.GroupID {
		t.Fatalf("bob got %s, which alice holds", tb.GroupID)
	}
	clock.Add(int64(2 * time.Minute))
	if tb := bob.task(); tb.GroupID != tk.GroupID {
		t.Fatalf("bob got %s, want %s (alice's hold ran out)", tb.GroupID, tk.GroupID)
	}
	var e apiError
	if code := alice.call("POST", "/api/submit", map[string]any{"group_id": tk.GroupID, "ranks": rankShown(tk)}, &e); code != 409 || !strings.Contains(e.Error, "another labeler") {
		t.Fatalf("submit after the item went to bob: %d %q, want 409", code, e.Error)
	}
}

func TestAdminSkipMovesOnAndStaysOutOfLabelerTables(t *testing.T) {
	_, c := newAPI(t, "alice", "boss")
	boss := c["boss"]
	if tk := boss.task(); tk.GroupID != "p1" {
		t.Fatalf("admin got %s, want p1", tk.GroupID)
	}
	if code := boss.call("POST", "/api/skip", map[string]string{"group_id": "p1"}, nil); code != 200 {
		t.Fatalf("admin skip: %d", code)
	}
	if tk := boss.task(); tk.GroupID != "p2" || tk.Remaining != 2 {
		t.Fatalf("admin after skipping p1 got %s (%d left), want p2 (2 left)", tk.GroupID, tk.Remaining)
	}
	var stats Stats
	if code := boss.call("GET", "/api/stats", nil, &stats); code != 200 {
		t.Fatalf("stats: %d", code)
	}
	for _, l := range stats.Labelers {
		if l.Name == "boss" {
			t.Fatalf("the admin's skips put the admin into the labeler table: %+v", stats.Labelers)
		}
	}
	if len(stats.Labelers) != 1 || stats.Labelers[0].Name != "alice" {
		t.Fatalf("labelers %+v, want alice alone", stats.Labelers)
	}
}

func TestAdminBrowsingHoldsNoLease(t *testing.T) {
	_, c := newAPI(t, "alice", "boss")
	if tk := c["boss"].task(); tk.GroupID != "p1" {
		t.Fatalf("admin got %s, want p1", tk.GroupID)
	}
	if tk := c["alice"].task(); tk.GroupID != "p1" {
		t.Fatalf("alice got %s after the admin looked at p1, want p1 (an admin holds no lease)", tk.GroupID)
	}
}

func TestAdminUndoesGold(t *testing.T) {
	s, c := newAPI(t, "boss")
	boss := c["boss"]
	fileGold := mustAppend(t, s, Submission{Labeler: "gold-file", GroupID: "p2", Kind: KindGold, Ranks: rk("p2", 1, 2, 3)})
	tk := boss.task()
	if code := boss.call("POST", "/api/submit", map[string]any{"group_id": tk.GroupID, "ranks": rankShown(tk)}, nil); code != 200 {
		t.Fatalf("admin submit: %d", code)
	}
	var undone map[string]any
	if code := boss.call("POST", "/api/undo", map[string]any{}, &undone); code != 200 || undone["group_id"] != tk.GroupID {
		t.Fatalf("admin undo of a gold ranking: %d %v, want 200 for %s", code, undone, tk.GroupID)
	}
	if st, _ := s.State(); st.Gold[tk.GroupID].ID != 0 {
		t.Fatalf("gold of %s still %+v after undo", tk.GroupID, st.Gold[tk.GroupID])
	}
	if next := boss.task(); next.GroupID != tk.GroupID {
		t.Fatalf("admin got %s after undo, want %s back", next.GroupID, tk.GroupID)
	}
	// Undoing an admin's replacement of another gold ranking brings that one back.
	if code := boss.call("POST", "/api/admin/gold", map[string]any{"group_id": "p2", "ranks": rk("p2", 3, 2, 1)}, nil); code != 200 {
		t.Fatalf("admin gold: %d", code)
	}
	if code := boss.call("POST", "/api/undo", map[string]any{}, nil); code != 200 {
		t.Fatalf("undo of the admin's p2 gold: %d", code)
	}
	if st, _ := s.State(); st.Gold["p2"].ID != fileGold {
		t.Fatalf("gold of p2 after undo is row %d, want the gold file's row %d", st.Gold["p2"].ID, fileGold)
	}
	if code := boss.call("POST", "/api/undo", map[string]any{}, nil); code != 409 {
		t.Fatalf("undo with nothing of the admin's left: %d, want 409", code)
	}
}

func TestRotateKeepsTheRole(t *testing.T) {
	db := filepath.Join(t.TempDir(), "labels.db")
	token := func(out string) string {
		out = strings.TrimSpace(out)
		return out[strings.LastIndex(out, "\n")+1:]
	}
	for _, tc := range []struct {
		name        string
		first, then AddLabelerOptions
		want        string
	}{
		{"admin rotated without --admin", AddLabelerOptions{Name: "boss", Admin: true}, AddLabelerOptions{Name: "boss", Rotate: true}, RoleAdmin},
		{"labeler rotated", AddLabelerOptions{Name: "alice"}, AddLabelerOptions{Name: "alice", Rotate: true}, RoleLabeler},
		{"labeler rotated with --admin", AddLabelerOptions{Name: "bob"}, AddLabelerOptions{Name: "bob", Rotate: true, Admin: true}, RoleAdmin},
	} {
		var out strings.Builder
		tc.first.DB, tc.then.DB = db, db
		if err := AddLabeler(tc.first, &out); err != nil {
			t.Fatal(err)
		}
		out.Reset()
		if err := AddLabeler(tc.then, &out); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "("+tc.want+")") {
			t.Fatalf("%s: printed %q, want the role %s", tc.name, out.String(), tc.want)
		}
		s, err := OpenStore(db)
		if err != nil {
			t.Fatal(err)
		}
		l, err := s.Authenticate(token(out.String()))
		s.Close()
		if err != nil || l.Role != tc.want {
			t.Fatalf("%s: %+v, %v; want role %s", tc.name, l, err, tc.want)
		}
	}
}

// TestUndoWithdrawsADuplicateRanking: with two rankings of one item (a
// double submit before submits needed a lease), one undo leaves the item
// unranked instead of bringing the older ranking back.
func TestUndoWithdrawsADuplicateRanking(t *testing.T) {
	s, c := newAPI(t, "alice", "boss")
	mustAppend(t, s, Submission{Labeler: "alice", GroupID: "p1", Kind: KindRank, Ranks: rk("p1", 1, 2, 3)})
	mustAppend(t, s, Submission{Labeler: "alice", GroupID: "p1", Kind: KindRank, Ranks: rk("p1", 1, 2, 3)})
	if code := c["alice"].call("POST", "/api/undo", map[string]any{}, nil); code != 200 {
		t.Fatalf("undo: %d", code)
	}
	if st, _ := s.State(); len(st.Active["alice"]) != 0 {
		t.Fatalf("alice still has %+v after undo", st.Active["alice"])
	}
	if tk := c["alice"].task(); tk.GroupID != "p1" || tk.Done != 0 {
		t.Fatalf("after undo alice got %s with %d done, want p1 back and 0 done", tk.GroupID, tk.Done)
	}
	// The same for an admin's gold submitted twice.
	tk := c["boss"].task()
	for i := 0; i < 2; i++ {
		if code := c["boss"].call("POST", "/api/submit", map[string]any{"group_id": tk.GroupID, "ranks": rankShown(tk)}, nil); code != 200 {
			t.Fatalf("admin submit %d: %d", i, code)
		}
	}
	if code := c["boss"].call("POST", "/api/undo", map[string]any{}, nil); code != 200 {
		t.Fatalf("admin undo: %d", code)
	}
	if st, _ := s.State(); st.Gold[tk.GroupID].ID != 0 {
		t.Fatalf("gold of %s still %+v after undo", tk.GroupID, st.Gold[tk.GroupID])
	}
}

// TestParallelUndosUndoEachRankingOnce sends five undos at the same instant
// (a barrier) for two rankings: two are undone, once each, and the other
// three are refused.
func TestParallelUndosUndoEachRankingOnce(t *testing.T) {
	for round := 0; round < 5; round++ {
		s, c := newAPI(t, "alice")
		alice := c["alice"]
		for i := 0; i < 2; i++ {
			tk := alice.task()
			if code := alice.call("POST", "/api/submit", map[string]any{"group_id": tk.GroupID, "ranks": rankShown(tk)}, nil); code != 200 {
				t.Fatalf("submit: %d", code)
			}
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		codes := make([]int, 5)
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("POST", alice.base+"/api/undo", strings.NewReader("{}"))
				req.Header.Set("Authorization", "Bearer "+alice.token)
				<-start
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				res.Body.Close()
				codes[i] = res.StatusCode
			}()
		}
		close(start)
		wg.Wait()
		n := map[int]int{}
		for _, code := range codes {
			n[code]++
		}
		subs, _ := s.Submissions()
		undone := map[int64]int{}
		for _, sub := range subs {
			if sub.Kind == KindUndo {
				undone[sub.Undoes]++
			}
		}
		if n[200] != 2 || n[409] != 3 || len(undone) != 2 || undone[subs[0].ID] != 1 || undone[subs[1].ID] != 1 {
			t.Fatalf("round %d: answers %v, undo rows per ranking %v; want 2 undone once each and 3 refused", round, n, undone)
		}
	}
}

func TestMeanSecondsLeavesOutUnknownTimes(t *testing.T) {
	s := labelledSet(t) // alice: 10, 20, 30 s
	mustAppend(t, s, Submission{Labeler: "alice", GroupID: "p1", Kind: KindRank, Ranks: rk("p1", 1, 2, 3), Seconds: 10})
	mustAppend(t, s, Submission{Labeler: "alice", GroupID: "p2", Kind: KindRank, Ranks: rk("p2", 1, 2, 3), Seconds: SecondsUnknown})
	st, err := s.Stats(StatsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Labelers[0].MeanSeconds; got != 20 {
		t.Fatalf("alice's mean seconds %g, want 20 (10 and 30; p2's time is unknown)", got)
	}
}
