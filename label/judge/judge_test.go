package judge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/label"
)

const responses = "../../testdata/label/responses.jsonl"

// fakeAPI is an OpenAI-compatible chat-completions server. It ranks the
// answers of a request by length (longest first), except for the greeting
// prompt, where it is fully position-biased (always "A, B, C"). The first
// failures requests fail with 503 then 429 to exercise the retries.
type fakeAPI struct {
	failures            int32
	calls, inFlight     atomic.Int32
	maxInFlight         atomic.Int32
	mu                  sync.Mutex
	keys, zhRubric, enR int
}

var answerRE = regexp.MustCompile(`(?m)^### (?:Answer|回答) ([A-Z])\n`)

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.calls.Add(1)
	cur := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxInFlight.Load()
		if cur <= m || f.maxInFlight.CompareAndSwap(m, cur) {
			break
		}
	}
	time.Sleep(20 * time.Millisecond)
	if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
		http.Error(w, "not found", 404)
		return
	}
	if n <= f.failures {
		if n%2 == 0 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, `{"error":"rate limited"}`, http.StatusTooManyRequests)
			return
		}
		http.Error(w, `{"error":"overloaded"}`, http.StatusServiceUnavailable)
		return
	}
	var req chatRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) != 2 || req.Model != "judge-1" {
		http.Error(w, "bad request", 400)
		return
	}
	user := req.Messages[1].Content
	f.mu.Lock()
	if r.Header.Get("Authorization") == "Bearer sk-test" {
		f.keys++
	}
	if strings.Contains(user, "候选回答") {
		f.zhRubric++
	} else if strings.Contains(user, "## Answers") {
		f.enR++
	}
	f.mu.Unlock()
	locs := answerRE.FindAllStringSubmatchIndex(user, -1)
	type ans struct {
		label string
		n     int
	}
	var as []ans
	for i, l := range locs {
		end := strings.Index(user[l[1]:], "\n## ")
		if i+1 < len(locs) {
			end = locs[i+1][0] - l[1]
		}
		as = append(as, ans{user[l[2]:l[3]], len([]rune(strings.TrimSpace(user[l[1] : l[1]+end])))})
	}
	if !strings.Contains(user, "two-word greeting") {
		sort.SliceStable(as, func(i, j int) bool { return as[i].n > as[j].n })
	}
	var labels []string
	for _, a := range as {
		labels = append(labels, fmt.Sprintf("%q", a.label))
	}
	content := "```json\n{\"ranking\": [" + strings.Join(labels, ", ") + "], \"reason\": \"longer is better\"}\n```"
	json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{"index": 0, "message": map[string]string{"role": "assistant", "content": content}}}})
}

func TestJudgeEndToEnd(t *testing.T) {
	dir := t.TempDir()
	// Gold for p1: a > b > c. The judge (by length) says b > c > a, so of
	// the three pairs it agrees with gold only on (b, c): 1/3.
	db := filepath.Join(dir, "labels.db")
	store, err := label.OpenStore(db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.LoadResponses(context.Background(), responses); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(label.Submission{Labeler: "boss", GroupID: "p1", Kind: label.KindGold, Ranks: label.Ranking{"p1-a": 1, "p1-b": 2, "p1-c": 3}}); err != nil {
		t.Fatal(err)
	}
	store.Close()

	api := &fakeAPI{failures: 2}
	srv := httptest.NewServer(api)
	defer srv.Close()
	t.Setenv("JUDGE_TEST_KEY", "sk-test")
	out := filepath.Join(dir, "judged")
	opts := Options{Responses: []string{responses}, BaseURL: srv.URL + "/v1", Model: "judge-1", Out: out,
		APIKeyEnv: "JUDGE_TEST_KEY", Concurrency: 3, Backoff: time.Millisecond, LabelsDB: db}
	rep, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	// 3 groups x 2 orders = 6 answered requests, plus the 2 failed ones.
	if rep.Groups != 3 || rep.Requests != 8 || api.calls.Load() != 8 || rep.CacheHits != 0 {
		t.Fatalf("report %+v, server calls %d; want 3 groups, 8 requests", rep, api.calls.Load())
	}
	// p1 and p3 are judged consistently (3 pairs each); the position-biased
	// greeting flips every pair and contributes none.
	if rep.Pairs != 9 || rep.Consistent != 6 || rep.Rows != 6 {
		t.Fatalf("pairs %d consistent %d rows %d; want 9, 6, 6", rep.Pairs, rep.Consistent, rep.Rows)
	}
	if rep.GoldPairs != 3 || rep.GoldAgree != 1 {
		t.Fatalf("gold agreement %d/%d, want 1/3", rep.GoldAgree, rep.GoldPairs)
	}
	if api.keys != 6 || api.zhRubric != 2 || api.enR != 4 {
		t.Fatalf("requests with key %d, zh rubric %d, en rubric %d; want 6, 2, 4", api.keys, api.zhRubric, api.enR)
	}
	if api.maxInFlight.Load() < 2 {
		t.Fatalf("at most %d requests in flight with concurrency 3", api.maxInFlight.Load())
	}
	rows, err := dataset.ReadAll[dataset.Comparison](out)
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string]int{}
	for _, r := range rows {
		groups[r.GroupID]++
		if r.Source != "judge-1" || r.ChosenRank >= r.RejectedRank || r.ID != dataset.ContentID(r.Key()...) {
			t.Fatalf("row %+v", r)
		}
		if len([]rune(r.Chosen)) < len([]rune(r.Rejected)) {
			t.Fatalf("the shorter answer was chosen: %+v", r)
		}
		if strings.Contains(r.Prompt, "greeting") {
			t.Fatal("a position-biased verdict was kept")
		}
	}
	if len(groups) != 2 {
		t.Fatalf("groups %v, want 2 of 3 rows", groups)
	}

	// A rerun is served from the cache: no request reaches the server.
	before := api.calls.Load()
	rep2, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if api.calls.Load() != before || rep2.Requests != 0 || rep2.CacheHits != 6 || rep2.Rows != 6 {
		t.Fatalf("rerun made %d calls, report %+v", api.calls.Load()-before, rep2)
	}
	rows2, _ := dataset.ReadAll[dataset.Comparison](out)
	for i := range rows {
		if rows[i].ID != rows2[i].ID {
			t.Fatal("the cached rerun wrote different rows")
		}
	}
}

func TestJudgeGivesUpAndStopsOnPermanentErrors(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if strings.Contains(r.Header.Get("Authorization"), "bad") {
			http.Error(w, `{"error":"invalid api key"}`, http.StatusUnauthorized)
			return
		}
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer srv.Close()
	dir := t.TempDir()
	opts := Options{Responses: []string{responses}, BaseURL: srv.URL, Model: "m", Out: filepath.Join(dir, "o"), Concurrency: 1,
		MaxRetries: 2, Backoff: time.Millisecond, NoCache: true}
	_, err := Run(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "after 2 retries") || calls.Load() != 3 {
		t.Fatalf("err %v after %d calls; want failure after 3 calls", err, calls.Load())
	}
	calls.Store(0)
	t.Setenv("JUDGE_BAD_KEY", "bad")
	opts.APIKeyEnv = "JUDGE_BAD_KEY"
	_, err = Run(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "401") || calls.Load() != 1 {
		t.Fatalf("err %v after %d calls; want a 401 without retries", err, calls.Load())
	}
}

func TestParseVerdict(t *testing.T) {
	got, err := ParseVerdict("Sure.\n```json\n{\"ranking\": [\"c\", \"A\", \"B\"]}\n```", 3)
	if err != nil || fmt.Sprint(got) != "[2 0 1]" {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{`{"ranking": ["A", "A", "B"]}`, `{"ranking": ["A", "B"]}`, `{"ranking": ["A", "B", "D"]}`, `no json`, `{"rank": 1}`} {
		if _, err := ParseVerdict(bad, 3); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestCustomRubric(t *testing.T) {
	text, err := BuiltinRubric("en")
	if err != nil || !strings.Contains(text, "{{.Prompt}}") {
		t.Fatalf("built-in rubric: %v", err)
	}
	dir := t.TempDir()
	rubric := filepath.Join(dir, "rubric.tmpl")
	os.WriteFile(rubric, []byte("CUSTOM RUBRIC\n"+text), 0o644)
	var custom atomic.Int32
	api := &fakeAPI{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		if strings.Contains(string(raw), "CUSTOM RUBRIC") {
			custom.Add(1)
		}
		r.Body = io.NopCloser(bytes.NewReader(raw))
		api.ServeHTTP(w, r)
	}))
	defer srv.Close()
	rep, err := Run(context.Background(), Options{Responses: []string{responses}, BaseURL: srv.URL + "/v1", Model: "judge-1", Out: filepath.Join(dir, "o"), Rubric: rubric})
	if err != nil {
		t.Fatal(err)
	}
	if custom.Load() != 6 || rep.Rows != 6 {
		t.Fatalf("%d requests used the custom rubric, %d rows; want 6 and 6", custom.Load(), rep.Rows)
	}
	os.WriteFile(rubric, []byte("{{.Nope"), 0o644)
	if _, err := Run(context.Background(), Options{Responses: []string{responses}, BaseURL: srv.URL, Model: "m", Out: filepath.Join(dir, "o2"), Rubric: rubric}); err == nil || !strings.Contains(err.Error(), "Rubric") {
		t.Fatalf("bad rubric: %v", err)
	}
}

// TestNegativeOptionsAreErrors: 0 means the default for library callers; a
// negative setting is an error naming it, not the default, before any request.
func TestNegativeOptionsAreErrors(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	for _, tc := range []struct {
		edit func(*Options)
		want string
	}{
		{func(o *Options) { o.Concurrency = -1 }, "Concurrency -1"},
		{func(o *Options) { o.RequestsPerSecond = -1 }, "RequestsPerSecond -1"},
		{func(o *Options) { o.Backoff = -time.Second }, "Backoff -1s"},
		{func(o *Options) { o.Timeout = -time.Second }, "Timeout -1s"},
		{func(o *Options) { o.Temperature = -1 }, "Temperature -1"},
		{func(o *Options) { o.MaxTokens = -1 }, "MaxTokens -1"},
	} {
		o := Options{Responses: []string{responses}, BaseURL: srv.URL, Model: "m", Out: filepath.Join(t.TempDir(), "out"), NoCache: true}
		tc.edit(&o)
		if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error naming %s", err, tc.want)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d requests were made with invalid options", n)
	}
}

// TestRubricShowsConversation: the built-in rubrics show the judge the
// system message and earlier turns before the request of a conversation,
// and nothing of the kind for a single-turn prompt.
func TestRubricShowsConversation(t *testing.T) {
	for _, lang := range []string{"en", "zh"} {
		j := &judge{opts: Options{Lang: lang}, tmpl: map[string]*template.Template{
			lang: template.Must(template.ParseFS(rubrics, "rubric_"+lang+".tmpl"))}}
		it := &label.Item{Prompt: "Sky?", Lang: lang, History: []dataset.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Hello"}},
			Answers: []label.Answer{{ID: "a", Text: "Blue."}, {ID: "b", Text: "Green."}}}
		text, err := j.render(it, []int{0, 1})
		if err != nil || !strings.Contains(text, "system: Be brief.\nuser: Hi\nassistant: Hello\n") || strings.Index(text, "assistant: Hello") > strings.Index(text, "Sky?") {
			t.Errorf("%s: %q %v", lang, text, err)
		}
		it.History = nil
		text, _ = j.render(it, []int{0, 1})
		if strings.Contains(text, "Conversation so far") || strings.Contains(text, "之前的对话") {
			t.Errorf("%s single-turn: %q", lang, text)
		}
	}
}
