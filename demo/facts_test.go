package demo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/rlhf-project/rlhf/reward"
)

// TestFacts: the facts task is the same on every run, every row is an
// instruction row build-prompts reads, about politeShare of the answers end
// with a closing, and the pipeline's gold judge scores a polite answer above
// the same answer without its closing and a wrong fact below the right one.
func TestFacts(t *testing.T) {
	raw := factsJSONL(1)
	if !bytes.Equal(raw, factsJSONL(1)) {
		t.Fatal("the facts differ between two runs with one seed")
	}
	var pipe struct {
		Vars map[string]string `yaml:"vars"`
	}
	if err := yaml.Unmarshal(pipelineYAML, &pipe); err != nil {
		t.Fatal(err)
	}
	polite := pipe.Vars["polite"]
	judge, err := reward.ParseSum([]string{"recall", polite}, nil, 0)
	if err != nil {
		t.Fatalf("pipeline.yaml's polite rule %q: %v", polite, err)
	}
	re := regexp.MustCompile(strings.TrimPrefix(polite, "regex:"))
	rows, withClosing := 0, 0
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		var r struct{ Instruction, Input, Output, Category string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.Instruction == "" || r.Output == "" || r.Category != "open_qa" {
			t.Fatalf("row %d: %+v", rows+1, r)
		}
		rows++
		if re.MatchString(r.Output) {
			withClosing++
		}
	}
	if rows < 640 || withClosing < rows/5 || withClosing > rows*2/5 {
		t.Fatalf("%d rows, %d with a closing line (want ≥ 640 rows, about %.0f%% with one)", rows, withClosing, 100*politeShare)
	}
	for _, c := range closings {
		if !re.MatchString("A cow moos. " + c) {
			t.Errorf("the gold judge does not see %q as polite", c)
		}
	}
	ref := "The capital of France is Paris. Hope this helps!"
	got, err := judge.Score(context.Background(), []reward.Input{
		{Response: "The capital of France is Paris. Happy to help!", Reference: ref},
		{Response: "The capital of France is Paris.", Reference: ref},
		{Response: "The capital of France is Rome.", Reference: ref},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !(got[0] > got[1] && got[1] > got[2]) {
		t.Errorf("gold scores %v: want polite > plain > wrong fact", got)
	}
}
