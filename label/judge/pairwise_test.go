package judge

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestCompare: each pair is asked in both orders; the fake judge prefers
// the longer answer, so a longer A wins, a longer B wins, and two answers
// of one length (where the fake keeps the shown order, pure position bias)
// tie; the same text ties without a request. A rerun is served from the
// cache.
func TestCompare(t *testing.T) {
	api := &fakeAPI{failures: 1}
	srv := httptest.NewServer(api)
	defer srv.Close()
	opts := Options{BaseURL: srv.URL + "/v1", Model: "judge-1", CacheDir: filepath.Join(t.TempDir(), "cache"),
		Concurrency: 2, Backoff: time.Millisecond}
	pairs := []Pair{
		{ID: "long-a", Prompt: "Say something.", Lang: "en", A: "a much longer answer", B: "short"},
		{ID: "long-b", Prompt: "Say something.", Lang: "en", A: "tiny", B: "another long answer"},
		{ID: "same-len", Prompt: "Say something.", Lang: "en", A: "abcde", B: "vwxyz"},
		{ID: "same", Prompt: "Say something.", Lang: "en", A: "identical", B: "identical"},
		{ID: "zh", Prompt: "说点什么。", Lang: "zh", A: "短", B: "一个长得多的回答"},
	}
	want := []Verdict{AWins, BWins, Tie, Tie, BWins}
	got, rep, err := Compare(context.Background(), opts, pairs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: %v, want %v", pairs[i].ID, got[i], want[i])
		}
	}
	// 4 pairs x 2 orders answered, plus one 503 retried.
	if rep.Requests != 9 || api.calls.Load() != 9 || rep.CacheHits != 0 || rep.Pairs != 5 || rep.Consistent != 3 {
		t.Fatalf("report %+v, %d server calls; want 9 requests, 5 pairs, 3 decided", rep, api.calls.Load())
	}
	if api.zhRubric != 2 || api.enR != 6 {
		t.Errorf("zh rubric %d, en rubric %d; want 2 and 6", api.zhRubric, api.enR)
	}
	before := api.calls.Load()
	got2, rep2, err := Compare(context.Background(), opts, pairs)
	if err != nil {
		t.Fatal(err)
	}
	if api.calls.Load() != before || rep2.Requests != 0 || rep2.CacheHits != 8 {
		t.Fatalf("rerun made %d calls, report %+v; want none, 8 cache hits", api.calls.Load()-before, rep2)
	}
	for i := range got {
		if got2[i] != got[i] {
			t.Errorf("%s: cached %v, first %v", pairs[i].ID, got2[i], got[i])
		}
	}
}

// TestCompareErrors: a pair whose request fails after the retries, or whose
// reply is unusable, is an error naming the prompt, never a tie; an
// unusable reply is not cached.
func TestCompareErrors(t *testing.T) {
	var calls atomic.Int32
	reply := "I cannot decide."
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var req chatRequest
		json.NewDecoder(r.Body).Decode(&req)
		if strings.Contains(req.Messages[1].Content, "broken prompt") {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{"message": map[string]string{"role": "assistant", "content": reply}}}})
	}))
	defer srv.Close()
	cache := filepath.Join(t.TempDir(), "cache")
	opts := Options{BaseURL: srv.URL, Model: "m", CacheDir: cache, Concurrency: 1, MaxRetries: 1, Backoff: time.Millisecond}
	_, _, err := Compare(context.Background(), opts, []Pair{{ID: "p7", Prompt: "broken prompt", A: "x", B: "yy"}})
	if err == nil || !strings.Contains(err.Error(), "prompt p7") || !strings.Contains(err.Error(), "after 1 retries") || calls.Load() != 2 {
		t.Fatalf("err %v after %d calls; want an error naming p7 after 2 calls", err, calls.Load())
	}
	calls.Store(0)
	pair := []Pair{{ID: "p8", Prompt: "fine", A: "x", B: "yy"}}
	_, _, err = Compare(context.Background(), opts, pair)
	if err == nil || !strings.Contains(err.Error(), "prompt p8") || !strings.Contains(err.Error(), "I cannot decide") {
		t.Fatalf("unusable reply: %v", err)
	}
	// The unusable reply was not cached: a fixed judge is asked again.
	reply = `{"ranking": ["B", "A"]}`
	calls.Store(0)
	v, _, err := Compare(context.Background(), opts, pair)
	if err != nil || calls.Load() != 2 || v[0] != Tie {
		t.Fatalf("after the fix: %v %v, %d calls; want a tie (always B: position bias) from 2 calls", v, err, calls.Load())
	}
	for _, o := range []Options{{Model: "m", CacheDir: cache}, {BaseURL: srv.URL, CacheDir: cache}, {BaseURL: srv.URL, Model: "m"}, {BaseURL: srv.URL, Model: "m", CacheDir: cache, Lang: "fr"}} {
		if _, _, err := Compare(context.Background(), o, pair); err == nil {
			t.Errorf("%+v: accepted", o)
		}
	}
}
