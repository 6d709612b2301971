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
		{gen(func(o *GenerateOptions) { o.NumSamples = -1 }), "--num-samples -1"},
		{gen(func(o *GenerateOptions) { o.MaxNewTokens = -5 }), "--max-new-tokens -5"},
		{gen(func(o *GenerateOptions) { o.BatchSize = -2 }), "--batch-size -2"},
		{gen(func(o *GenerateOptions) { o.MaxPromptLen = -1 }), "--max-prompt-len -1"},
		{gen(func(o *GenerateOptions) { o.MaxPrompts = -1 }), "--max-prompts -1"},
		{RunScore(context.Background(), ScoreOptions{Model: "m", Data: []string{"d.jsonl"}, Out: "o", BatchSize: -4}), "--batch-size -4"},
		{eval(func(o *EvalOptions) { o.MaxNewTokens = -1 }), "--max-new-tokens -1"},
		{eval(func(o *EvalOptions) { o.MaxPromptLen = -1 }), "--max-prompt-len -1"},
		{eval(func(o *EvalOptions) { o.BatchSize = -1 }), "--batch-size -1"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("got %v, want an error naming %s", tc.err, tc.want)
		}
	}
}
