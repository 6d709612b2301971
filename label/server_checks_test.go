package label

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
