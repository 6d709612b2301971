package option

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"testing"
)

func flagName(f string) string {
	return map[string]string{"MaxNewTokens": "--max-new-tokens", "Out": "--out", "LoRA.Rank": "--lora-rank"}[f]
}

func TestErrorNamesFieldsWithoutFlags(t *testing.T) {
	err := Errorf("{MaxNewTokens} %d: want at least 1 (100%% of {LoRA.Rank})", 0)
	if got, want := err.Error(), "MaxNewTokens 0: want at least 1 (100% of LoRA.Rank)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var e *Error
	if !errors.As(err, &e) || !slices.Equal(e.Fields(), []string{"MaxNewTokens", "LoRA.Rank"}) {
		t.Errorf("Fields() of %v: want MaxNewTokens, LoRA.Rank", err)
	}
	if got, want := Render(err, flagName), "--max-new-tokens 0: want at least 1 (100% of --lora-rank)"; got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
	// Braces that are not a field name stay as they are.
	if got := Errorf("template {prompt} and {}: {Out}").Error(); got != "template {prompt} and {}: Out" {
		t.Errorf("Error() = %q", got)
	}
}

func TestFieldArgument(t *testing.T) {
	err := Errorf("%s %s: no model folder given", Field("Out"), "x")
	if got := err.Error(); got != "Out x: no model folder given" {
		t.Errorf("Error() = %q", got)
	}
	if got := Render(err, flagName); got != "--out x: no model folder given" {
		t.Errorf("Render = %q", got)
	}
	if got := Fields(err); !slices.Equal(got, []string{"Out"}) {
		t.Errorf("Fields = %v, want [Out]", got)
	}
}

func TestWrapping(t *testing.T) {
	inner := Errorf("{Out}: %w", fs.ErrNotExist)
	if !errors.Is(inner, fs.ErrNotExist) {
		t.Errorf("%v does not unwrap to fs.ErrNotExist", inner)
	}
	// Wrapped by fmt.Errorf, by another option error and by errors.Join.
	outer := fmt.Errorf("ppo: %w", Errorf("{MaxNewTokens} 3: %w", inner))
	joined := errors.Join(errors.New("first"), outer)
	want := "first\nppo: --max-new-tokens 3: --out: " + fs.ErrNotExist.Error()
	if got := Render(joined, flagName); got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
	if got := joined.Error(); got != "first\nppo: MaxNewTokens 3: Out: "+fs.ErrNotExist.Error() {
		t.Errorf("Error() = %q", got)
	}
	if got := Fields(joined); !slices.Equal(got, []string{"MaxNewTokens", "Out"}) {
		t.Errorf("Fields = %v", got)
	}
	if !errors.Is(joined, fs.ErrNotExist) {
		t.Errorf("joined error does not unwrap to fs.ErrNotExist")
	}
	if got := Render(errors.New("plain"), flagName); got != "plain" {
		t.Errorf("Render of a plain error = %q", got)
	}
}

// TestErrorAsMessagePart: an error of this package formatted with %v (a
// part of a message, such as advice) is rendered and its fields counted,
// though it is not wrapped.
func TestErrorAsMessagePart(t *testing.T) {
	err := Errorf("diverged; %v", Errorf("lower {MaxNewTokens} (now %d)", 9))
	if got := Fields(err); !slices.Equal(got, []string{"MaxNewTokens"}) {
		t.Errorf("Fields = %v, want [MaxNewTokens]", got)
	}
	if got, want := Render(err, flagName), "diverged; lower --max-new-tokens (now 9)"; got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
	if errors.Unwrap(err) != nil || len(err.(*Error).Unwrap()) != 0 {
		t.Errorf("%v wraps its %%v argument", err)
	}
}
