package infer

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestFitLengths: lengths not given (0) take the defaults when they fit
// the context, else the prompt shrinks first (not below half the
// context); given lengths are kept.
func TestFitLengths(t *testing.T) {
	for _, tc := range []struct {
		positions, prompt, newTokens int
		wantP, wantR                 int
		wantErr                      string
	}{
		{0, 0, 0, 256, 128, ""},       // unknown context: the defaults
		{1024, 0, 0, 256, 128, ""},    // they fit
		{384, 0, 0, 256, 128, ""},     // exactly
		{300, 0, 0, 172, 128, ""},     // the prompt shrinks first
		{256, 0, 0, 128, 128, ""},     // down to half the context
		{128, 0, 0, 64, 64, ""},       // then both share it
		{129, 0, 0, 64, 65, ""},       // the response takes the rest
		{128, 100, 0, 100, 28, ""},    // a given prompt length is kept
		{128, 0, 100, 28, 100, ""},    // a given response length is kept
		{1024, 0, 8, 256, 8, ""},      // and the other keeps its default when it fits
		{128, 200, 100, 200, 100, ""}, // both given: kept (Load refuses them)
		{128, 128, 0, 0, 0, "MaxPromptLen 128"},
		{128, 0, 130, 0, 0, "MaxNewTokens 130"},
		{1, 0, 0, 0, 0, "1 positions"},
	} {
		p, r, err := FitLengths(tc.positions, tc.prompt, tc.newTokens, DefaultMaxPromptLen, DefaultMaxNewTokens)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%+v: got %d, %d, %v; want an error naming %s", tc, p, r, err, tc.wantErr)
			}
			continue
		}
		if err != nil || p != tc.wantP || r != tc.wantR {
			t.Errorf("%+v: got %d, %d, %v", tc, p, r, err)
		}
	}
}

// TestEvalLengthsFitSmallContext: with a 128-position policy, eval without
// --max-prompt-len and --max-new-tokens runs (the defaults 256 + 128 do not
// fit); lengths given above the context are still refused, naming them.
func TestEvalLengthsFitSmallContext(t *testing.T) {
	policy, rm := tinyModels(t) // 128 positions
	o := EvalOptions{Policy: policy, Baseline: policy, Reward: rm, Prompts: testPrompts, MaxPrompts: 2,
		Temperature: 1, BatchSize: 2, Backend: "go", Seed: 5}
	o.Out = filepath.Join(t.TempDir(), "eval")
	if _, err := RunEval(context.Background(), o); err != nil {
		t.Fatalf("lengths not given: %v", err)
	}
	o.Out, o.MaxPromptLen = filepath.Join(t.TempDir(), "eval2"), 256
	if _, err := RunEval(context.Background(), o); err == nil || !strings.Contains(err.Error(), "MaxPromptLen 256") {
		t.Fatalf("--max-prompt-len 256 on 128 positions: %v", err)
	}
}

// TestGenerateLengthsFitSmallContext: generate without --max-new-tokens on
// a 128-position model runs (128 new tokens would leave no prompt).
func TestGenerateLengthsFitSmallContext(t *testing.T) {
	dir := initTiny(t, "gpt2") // 128 positions
	out := filepath.Join(t.TempDir(), "gen")
	if err := RunGenerate(context.Background(), GenerateOptions{Model: dir, Prompts: []string{testPrompts}, Out: out,
		MaxPrompts: 2, Backend: "go"}); err != nil {
		t.Fatal(err)
	}
	err := RunGenerate(context.Background(), GenerateOptions{Model: dir, Prompts: []string{testPrompts},
		Out: filepath.Join(t.TempDir(), "gen2"), MaxNewTokens: 128, MaxPrompts: 2, Backend: "go"})
	if err == nil || !strings.Contains(err.Error(), "MaxNewTokens 128") {
		t.Fatalf("--max-new-tokens 128 on 128 positions: %v", err)
	}
}
