package label

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rlhf-project/rlhf/dataset"
)

type client struct {
	t     *testing.T
	base  string
	token string
}

// call makes an API request and decodes the JSON reply into out (if not nil).
func (c *client) call(method, path string, body any, out any) int {
	c.t.Helper()
	var rd io.Reader
	if s, ok := body.(string); ok {
		rd = strings.NewReader(s)
	} else if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %d %s: %v", method, path, res.StatusCode, raw, err)
		}
	}
	return res.StatusCode
}

func (c *client) task() Task {
	c.t.Helper()
	var tk Task
	if code := c.call("GET", "/api/task", nil, &tk); code != 200 {
		c.t.Fatalf("task: HTTP %d", code)
	}
	return tk
}

// rankShown ranks a task's answers in the order shown (first best).
func rankShown(tk Task) Ranking {
	r := Ranking{}
	for i, a := range tk.Answers {
		r[a.ID] = i + 1
	}
	return r
}

func addLabelers(t *testing.T, s *Store, names ...string) map[string]string {
	tokens := map[string]string{}
	for _, n := range names {
		role := RoleLabeler
		if n == "boss" {
			role = RoleAdmin
		}
		tok, err := s.AddLabeler(n, role, false)
		if err != nil {
			t.Fatal(err)
		}
		tokens[n] = tok
	}
	return tokens
}

func TestServerAPI(t *testing.T) {
	s := newStore(t)
	tokens := addLabelers(t, s, "alice", "bob", "boss")
	srv := httptest.NewServer(NewServer(s, ServeOptions{MaxBodyBytes: 4096}))
	defer srv.Close()
	anon := &client{t: t, base: srv.URL}
	alice := &client{t: t, base: srv.URL, token: tokens["alice"]}
	bob := &client{t: t, base: srv.URL, token: tokens["bob"]}
	boss := &client{t: t, base: srv.URL, token: tokens["boss"]}

	res, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(page), "rlhf label") || !strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("index: %d, CSP %q", res.StatusCode, res.Header.Get("Content-Security-Policy"))
	}

	// Authentication and roles.
	if code := anon.call("GET", "/api/task", nil, nil); code != 401 {
		t.Fatalf("task without token: %d, want 401", code)
	}
	if code := anon.call("POST", "/api/login", map[string]string{"name": "bob", "token": tokens["alice"]}, nil); code != 401 {
		t.Fatalf("login with another's token: %d, want 401", code)
	}
	var who map[string]string
	if code := anon.call("POST", "/api/login", map[string]string{"name": "boss", "token": tokens["boss"]}, &who); code != 200 || who["role"] != RoleAdmin {
		t.Fatalf("admin login: %d %v", code, who)
	}
	if code := alice.call("GET", "/api/stats", nil, nil); code != 403 {
		t.Fatalf("stats as labeler: %d, want 403", code)
	}
	if code := alice.call("POST", "/api/admin/overlap", map[string]float64{"rate": 1}, nil); code != 403 {
		t.Fatalf("overlap as labeler: %d, want 403", code)
	}
	if code := alice.call("POST", "/api/submit", `{"group_id":"`+strings.Repeat("x", 5000)+`"}`, nil); code != 413 {
		t.Fatalf("oversized body: %d, want 413", code)
	}
	if code := alice.call("POST", "/api/submit", `{"group_id":"p1","evil":1}`, nil); code != 400 {
		t.Fatalf("unknown field: %d, want 400", code)
	}

	// Assignment with overlap 0: two labelers get different items.
	ta := alice.task()
	tb := bob.task()
	if ta.GroupID != "p1" || tb.GroupID != "p2" || ta.Remaining != 3 || len(ta.Answers) != 3 || ta.Answers[0].Model != "" {
		t.Fatalf("alice got %s (%d left), bob got %s", ta.GroupID, ta.Remaining, tb.GroupID)
	}
	var apiErr apiError
	if code := alice.call("POST", "/api/submit", map[string]any{"group_id": "p1", "ranks": Ranking{"p1-a": 1}}, &apiErr); code != 400 || !strings.Contains(apiErr.Error, "p1") {
		t.Fatalf("incomplete ranking: %d %q", code, apiErr.Error)
	}
	sub := map[string]any{"group_id": "p1", "ranks": rankShown(ta), "shown": []string{ta.Answers[0].ID, ta.Answers[1].ID, ta.Answers[2].ID}, "ratings": map[string]Rating{ta.Answers[0].ID: {Quality: 6, Flags: []string{"made_up_facts"}}}}
	if code := alice.call("POST", "/api/submit", sub, nil); code != 200 {
		t.Fatalf("submit: %d", code)
	}
	if code := bob.call("POST", "/api/skip", map[string]string{"group_id": "p2"}, nil); code != 200 {
		t.Fatalf("skip: %d", code)
	}
	if tk := bob.task(); tk.GroupID != "p3" {
		t.Fatalf("bob after skipping p2 got %s, want p3 (p1 is done by alice)", tk.GroupID)
	}
	// Overlap 1: every item goes to two labelers, so bob now gets p1 too.
	if code := boss.call("POST", "/api/admin/overlap", map[string]float64{"rate": 1}, nil); code != 200 {
		t.Fatalf("set overlap: %d", code)
	}
	if tk := bob.task(); tk.GroupID != "p1" {
		t.Fatalf("bob with overlap 1 got %s, want p1", tk.GroupID)
	}
	var undone map[string]any
	if code := bob.call("POST", "/api/undo", map[string]any{}, &undone); code != 200 || undone["group_id"] != "p2" {
		t.Fatalf("undo: %d %v", code, undone)
	}
	st, _ := s.State()
	if st.Skipped["bob"]["p2"] {
		t.Fatal("undo left p2 skipped")
	}
	if code := bob.call("POST", "/api/undo", map[string]any{}, nil); code != 409 {
		t.Fatalf("second undo with nothing left: %d, want 409", code)
	}
	if ra := st.Active["alice"]["p1"]; ra.Ratings[ta.Answers[0].ID].Quality != 6 || len(ra.Shown) != 3 {
		t.Fatalf("stored submission %+v", ra)
	}

	// The admin's ranking is gold; the admin is given items without gold.
	tg := boss.task()
	if tg.GroupID != "p1" {
		t.Fatalf("admin got %s, want p1", tg.GroupID)
	}
	if code := boss.call("POST", "/api/submit", map[string]any{"group_id": "p1", "ranks": rankShown(tg)}, nil); code != 200 {
		t.Fatalf("admin submit: %d", code)
	}
	var stats Stats
	if code := boss.call("GET", "/api/stats", nil, &stats); code != 200 || stats.GoldItems != 1 || stats.Overlap != 1 {
		t.Fatalf("stats: %d %+v", code, stats)
	}
}

// TestHelperServe is not a test: TestRestartLosesNothing runs it in a child
// process as a stand-in for `rlhf label serve`, to kill it with SIGKILL.
func TestHelperServe(t *testing.T) {
	db := os.Getenv("RLHF_LABEL_HELPER_DB")
	if db == "" {
		t.Skip("helper process of TestRestartLosesNothing")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	err := Serve(ctx, ServeOptions{DB: db, Responses: []string{filepath.Join(fixtures, "responses.jsonl")}, Addr: "127.0.0.1:0",
		OnListen: func(addr string) { os.WriteFile(os.Getenv("RLHF_LABEL_HELPER_ADDR"), []byte(addr), 0o644) }})
	if err != nil {
		t.Fatal(err)
	}
}

// startServe starts `label serve` in a child process and returns its URL.
func startServe(t *testing.T, db string) (*exec.Cmd, string) {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "addr")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServe$")
	cmd.Env = append(os.Environ(), "RLHF_LABEL_HELPER_DB="+db, "RLHF_LABEL_HELPER_ADDR="+addrFile)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if raw, err := os.ReadFile(addrFile); err == nil && len(raw) > 0 {
			return cmd, "http://" + string(raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	t.Fatal("label serve did not start")
	return nil, ""
}

func TestRestartLosesNothing(t *testing.T) {
	db := filepath.Join(t.TempDir(), "labels.db")
	s, err := OpenStore(db)
	if err != nil {
		t.Fatal(err)
	}
	tokens := addLabelers(t, s, "alice")
	s.Close()

	cmd, url := startServe(t, db)
	alice := &client{t: t, base: url, token: tokens["alice"]}
	for i := 0; i < 2; i++ {
		tk := alice.task()
		if code := alice.call("POST", "/api/submit", map[string]any{"group_id": tk.GroupID, "ranks": rankShown(tk)}, nil); code != 200 {
			t.Fatalf("submit %d: HTTP %d", i, code)
		}
	}
	// Kill -9 mid-session: no shutdown, no checkpoint.
	cmd.Process.Kill()
	cmd.Wait()

	cmd, url = startServe(t, db)
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	alice.base = url
	tk := alice.task()
	if tk.Done != 2 || tk.GroupID != "p3" || tk.Remaining != 1 {
		t.Fatalf("after restart: done %d, next %s, %d left; want 2 done and p3 next", tk.Done, tk.GroupID, tk.Remaining)
	}
	if code := alice.call("POST", "/api/submit", map[string]any{"group_id": tk.GroupID, "ranks": rankShown(tk)}, nil); code != 200 {
		t.Fatalf("submit after restart: HTTP %d", code)
	}
	// Export while the server runs (a second process on the WAL database).
	out := filepath.Join(t.TempDir(), "cmp")
	rep, err := Export(context.Background(), ExportOptions{DB: db, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := dataset.ReadAll[dataset.Comparison](out)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Groups != 3 || len(rows) != 9 {
		t.Fatalf("exported %d groups, %d rows; want 3 and 9", rep.Groups, len(rows))
	}
	s, err = OpenStore(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	items, _ := s.Items()
	if len(items) != 3 {
		t.Fatalf("%d items after two loads, want 3", len(items))
	}
}

// TestServeRefusesNegativeOptions: 0 means the default for library callers;
// a negative setting (or a threshold above 1) is an error naming it, before
// the database is opened or anything listens.
func TestServeRefusesNegativeOptions(t *testing.T) {
	for _, tc := range []struct {
		o    ServeOptions
		want string
	}{
		{ServeOptions{MaxBodyBytes: -1}, "MaxBodyBytes -1"},
		{ServeOptions{LeaseTTL: -time.Second}, "LeaseTTL -1s"},
		{ServeOptions{Threshold: -0.5}, "Threshold -0.5"},
		{ServeOptions{Threshold: 1.5}, "Threshold 1.5"},
	} {
		db := filepath.Join(t.TempDir(), "labels.db")
		tc.o.DB, tc.o.Addr = db, "127.0.0.1:0"
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := Serve(ctx, tc.o)
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error naming %s", err, tc.want)
		}
		if _, err := os.Stat(db); !os.IsNotExist(err) {
			t.Errorf("%s: the database was created", tc.want)
		}
	}
}
