package demosite

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSiteServesEveryPage(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	gens := map[string]int{}
	for _, e := range s.Entries {
		gens[e.Gen]++
	}
	if gens["legacy"] < 3 || gens["current"] < 3 || len(gens) != 2 || len(s.Questions) < 3 {
		t.Errorf("site has entries %v and %d questions; want both generations and some questions", gens, len(s.Questions))
	}
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for _, p := range s.Paths() {
		resp, err := srv.Client().Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(body) == 0 {
			t.Errorf("%s: status %d, %d bytes", p, resp.StatusCode, len(body))
		}
		if p == "/item/"+GBKSlug {
			if utf8.Valid(body) || strings.Contains(resp.Header.Get("Content-Type"), "charset") {
				t.Errorf("%s should be GBK bytes with the charset only in <meta>", p)
			}
		} else if !utf8.Valid(body) {
			t.Errorf("%s is not UTF-8", p)
		}
		if strings.Contains(string(body), "@@") || strings.Contains(string(body), "&#34;initialState") {
			t.Errorf("%s: template residue or escaped JSON", p)
		}
	}
	resp, _ := srv.Client().Get(srv.URL + "/item/nope")
	if resp.StatusCode != 404 {
		t.Errorf("unknown page: status %d", resp.StatusCode)
	}
}
