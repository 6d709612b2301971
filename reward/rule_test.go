package reward

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rlhf-project/rlhf/dataset"
)

func ruleScores(t *testing.T, spec string, in ...Input) []float64 {
	t.Helper()
	r, err := Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Score(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestRuleRewards(t *testing.T) {
	ref := func(resp, ref string) Input { return Input{Prompt: "q", Response: resp, Reference: ref} }
	for _, c := range []struct {
		spec string
		in   Input
		want float64
	}{
		{"exact-match", ref("  Paris. ", "paris"), 1},
		{"exact-match", ref("The  capital is\nParis", "the capital is paris!"), 1},
		{"exact-match", ref("北京。", "北京"), 1},
		{"exact-match", ref("Paris, France", "Paris"), 0},
		{"contains", ref("It is Paris, France.", "paris"), 1},
		{"contains", ref("It is Lyon.", "Paris"), 0},
		{`regex:^\d+$`, ref("42", ""), 1},
		{`regex:^\d+$`, ref("42 apples", ""), 0},
		{"recall", ref("The capital of France is Paris.", "The capital of France is Paris. Hope this helps!"), 6.0 / 9},
		{"recall", ref("paris PARIS", "Paris, paris and Lyon"), 2.0 / 4}, // words counted as often as the reference has them
		{"recall", ref("首都是北京。", "中国的首都是北京"), 5.0 / 8},                   // each Han character a word
		{"recall", ref("anything", ""), 0},                               // no reference words
		{"length-penalty", ref("abcd", "abcd"), 0},
		{"length-penalty", ref("ab", "abcd"), -0.5},
		{"length-penalty", ref("abcdef", "abcd"), -0.5},
		{"length-penalty", ref("一二三四五六七八九十", "一二"), -1}, // capped; characters, not bytes
	} {
		if got := ruleScores(t, c.spec, c.in); got[0] != c.want {
			t.Errorf("%s on %+v = %v, want %v", c.spec, c.in, got[0], c.want)
		}
	}
	for spec, needs := range map[string]bool{"exact-match": true, "contains": true, "recall": true, "length-penalty": true, "regex:a": false, "cmd:sh": false} {
		if r, err := Parse(spec); err != nil || r.NeedsReference() != needs {
			t.Errorf("%s: NeedsReference %v, want %v (%v)", spec, r != nil && r.NeedsReference(), needs, err)
		}
	}
	for _, bad := range []string{"", "exact", "regex:", "regex:(", "cmd:", "cmd:/no/such/program", "cmd: "} {
		if _, err := Parse(bad); err == nil || !strings.Contains(err.Error(), "reward function") {
			t.Errorf("%q: want an error naming the reward function, got %v", bad, err)
		}
	}
	var rules []*Rule
	for _, s := range []string{"exact-match", "regex:a", "regex:b", "cmd:sh", "length-penalty", "contains"} {
		r, _ := Parse(s)
		rules = append(rules, r)
	}
	if got := strings.Join(Names(rules), ","); got != "exact_match,regex,regex_2,cmd,length_penalty,contains" {
		t.Errorf("names %s", got)
	}
}

// rewardScript writes an executable shell script into a temp dir.
func rewardScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "score.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRuleRewardCmdProtocol: the program reads one JSON line per response
// and answers one number per line; every way of failing is an error naming
// it.
func TestRuleRewardCmdProtocol(t *testing.T) {
	dir := t.TempDir()
	seen := filepath.Join(dir, "stdin.jsonl")
	// Score = the number of characters of the line (a function of the input),
	// after saving what it was sent.
	prog := rewardScript(t, `tee `+seen+` | awk '{ print length($0) / 10 }'`)
	in := []Input{{Prompt: "1+1?", Response: "2", Reference: "2"}, {Prompt: "说\"你好\"", Response: "你好\n<b>", Reference: "",
		History: []dataset.Message{{Role: "system", Content: "Be brief."}}}}
	r, err := Parse("cmd:" + prog)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Score(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(seen)
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("the program got %q", raw)
	}
	for i, line := range lines {
		var back Input
		if err := json.Unmarshal([]byte(line), &back); err != nil || !reflect.DeepEqual(back, in[i]) {
			t.Errorf("line %d %q decodes to %+v (%v), want %+v", i+1, line, back, err, in[i])
		}
		if len(got) != 2 || got[i] <= 0 {
			t.Errorf("scores %v", got)
		}
	}
	if strings.Contains(lines[0], "history") || !strings.Contains(lines[1], `"history":[{"role":"system","content":"Be brief."}]`) {
		t.Errorf("a conversation's history goes to the program, a single-turn prompt has none: %q", lines)
	}
	if !strings.Contains(lines[1], `"response":"你好\n<b>"`) {
		t.Errorf("JSON should keep UTF-8 and <b> as they are: %s", lines[1])
	}
	// Arguments after the program.
	if got := ruleScores(t, "cmd:"+rewardScript(t, `awk -v k="$1" '{ print k }'`)+" 2.5", in...); got[0] != 2.5 || got[1] != 2.5 {
		t.Errorf("with an argument: %v", got)
	}

	for _, c := range []struct {
		name, body string
		timeout    time.Duration
		want       string
	}{
		{"fails", `cat >/dev/null; echo "model file missing" >&2; exit 3`, 0, "exit status 3; stderr: model file missing"},
		{"slow", `sleep 30; echo 1; echo 1`, 300 * time.Millisecond, "no answer within 300ms for 2 responses"},
		{"not a number", `cat >/dev/null; echo 1; echo high`, 0, `output line 2: "high" is not a number`},
		{"too few", `cat >/dev/null; echo 1`, 0, "wrote 1 lines for 2 responses"},
		{"nothing", `cat >/dev/null`, 0, "wrote 0 lines for 2 responses"},
		{"NaN", `cat >/dev/null; echo 1; echo NaN`, 0, "output line 2: NaN is not a finite number"},
	} {
		prog := rewardScript(t, c.body)
		r, err := Parse("cmd:" + prog)
		if err != nil {
			t.Fatal(err)
		}
		r.Timeout = c.timeout
		t0 := time.Now()
		_, err = r.Score(context.Background(), in)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), prog) {
			t.Errorf("%s: want an error naming %s with %q, got %v", c.name, prog, c.want, err)
		}
		if time.Since(t0) > 10*time.Second {
			t.Errorf("%s: took %s", c.name, time.Since(t0))
		}
	}
}

// TestSum: a Sum adds its rules' scores with their weights, needs a
// reference when any rule does, and refuses weights that do not match.
func TestSum(t *testing.T) {
	s, err := ParseSum([]string{"recall", `regex:thanks!$`}, []float64{1, 0.5}, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Score(context.Background(), []Input{
		{Response: "a b thanks!", Reference: "a b c d"},
		{Response: "a b c d", Reference: "a b c d"},
		{Response: "nothing", Reference: "a b c d"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{0.5 + 0.5, 1, 0}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("scores %v, want %v", got, want)
	}
	if !s.NeedsReference() || s.String() != "recall + 0.5×regex:thanks!$" {
		t.Errorf("NeedsReference %v, String %q", s.NeedsReference(), s.String())
	}
	if one, err := ParseSum([]string{"regex:x"}, nil, 0); err != nil || one.NeedsReference() || one.Weights[0] != 1 {
		t.Errorf("one rule, default weight: %+v %v", one, err)
	}
	for _, c := range []struct {
		specs   []string
		weights []float64
		want    string
	}{
		{nil, nil, "no rule"},
		{[]string{"recall", "contains"}, []float64{1}, "1 weights for 2 rules"},
		{[]string{"recall"}, []float64{math.Inf(1)}, "finite"},
		{[]string{"recall", "nope"}, nil, `reward function "nope"`},
	} {
		if _, err := ParseSum(c.specs, c.weights, 0); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: want an error with %q, got %v", c.specs, c.weights, c.want, err)
		}
	}
}
