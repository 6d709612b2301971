package infer

import (
	"context"
	"strings"
	"testing"
)

// TestNegativeOptionsAreErrors: for library callers 0 means the default;
// a negative size is an error naming it, not silently the default or 1.
func TestNegativeOptionsAreErrors(t *testing.T) {
	gen := func(edit func(*GenerateOptions)) error {
		o := GenerateOptions{Model: "m", Prompts: []string{"p.jsonl"}, Out: "o"}
		edit(&o)
		return RunGenerate(context.Background(), o)
	}
	eval := func(edit func(*EvalOptions)) error {
		o := EvalOptions{Policy: "p", Baseline: "b", Reward: "r", Prompts: "q.jsonl", Out: "o"}
		edit(&o)
		_, err := RunEval(context.Background(), o)
		return err
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{gen(func(o *GenerateOptions) { o.NumSamples = -1 }), "NumSamples -1"},
		{gen(func(o *GenerateOptions) { o.MaxNewTokens = -5 }), "MaxNewTokens -5"},
		{gen(func(o *GenerateOptions) { o.BatchSize = -2 }), "BatchSize -2"},
		{gen(func(o *GenerateOptions) { o.MaxPromptLen = -1 }), "MaxPromptLen -1"},
		{gen(func(o *GenerateOptions) { o.MaxPrompts = -1 }), "MaxPrompts -1"},
		{RunScore(context.Background(), ScoreOptions{Model: "m", Data: []string{"d.jsonl"}, Out: "o", BatchSize: -4}), "BatchSize -4"},
		{eval(func(o *EvalOptions) { o.MaxNewTokens = -1 }), "MaxNewTokens -1"},
		{eval(func(o *EvalOptions) { o.MaxPromptLen = -1 }), "MaxPromptLen -1"},
		{eval(func(o *EvalOptions) { o.BatchSize = -1 }), "BatchSize -1"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("got %v, want an error naming %s", tc.err, tc.want)
		}
	}
}
