package label

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFromVotesWithoutPairsIsAnError: qa rows without votes (or whose
// votes make no pair) give an error with the counts and the first reason,
// and no dataset; so does an empty qa input.
func TestFromVotesWithoutPairsIsAnError(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noVotes := write("novotes.jsonl", `{"site":"baike","url":"u1","question":"What is rain?","answer":"Water."}
{"site":"baike","url":"u1","question":"What is rain?","answer":"Drops from clouds."}
{"site":"baike","url":"u2","question":"What is snow?","answer":"Ice."}
`)
	tied := write("tied.jsonl", `{"site":"zhihu","url":"u1","question":"Why?","answer":"Because.","votes":3}
{"site":"zhihu","url":"u1","question":"Why?","answer":"No idea.","votes":3}
{"site":"zhihu","url":"u2","question":"How?","answer":"Carefully.","votes":9}
`)
	empty := write("empty.jsonl", "")
	cases := []struct {
		in   string
		want []string
	}{
		{noVotes, []string{"novotes.jsonl", "no pairs", "3 qa rows", "3 without a vote count", noVotes + ":1"}},
		{tied, []string{"tied.jsonl", "no pairs", "3 qa rows", "1 question(s) with one answer", "1 with tied votes"}},
		{empty, []string{"empty.jsonl", "no qa rows"}},
	}
	for i, c := range cases {
		out := filepath.Join(dir, "out", string(rune('a'+i)))
		_, err := FromVotes(context.Background(), VotesOptions{QA: []string{c.in}, Out: out})
		if err == nil {
			t.Errorf("%s: no error", c.in)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.in, err, w)
			}
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("%s: %s was written", c.in, out)
		}
	}
}

// TestSyntheticWithoutPairsIsAnError: responses whose answers all tie
// under the rule make no pair: an error with the counts, and no dataset.
func TestSyntheticWithoutPairsIsAnError(t *testing.T) {
	dir := t.TempDir()
	resp := filepath.Join(dir, "resp.jsonl")
	os.WriteFile(resp, []byte(`{"prompt_id":"p1","prompt":"Say hi","response":"hi"}
{"prompt_id":"p1","prompt":"Say hi","response":"yo"}
{"prompt_id":"p2","prompt":"Say bye","response":"   "}
`), 0o644)
	out := filepath.Join(dir, "cmp")
	_, err := Synthetic(context.Background(), SyntheticOptions{Responses: []string{resp}, Out: out, Prefer: "length=10"})
	if err == nil {
		t.Fatal("all ties: no error")
	}
	for _, w := range []string{"resp.jsonl", "no pairs", "3 responses", "1 empty", "1 prompt(s) whose answers all tie"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if _, serr := os.Stat(out); serr == nil {
		t.Errorf("%s was written", out)
	}
}
