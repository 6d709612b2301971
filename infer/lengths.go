package infer

import (
	"fmt"

	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/option"
)

// The prompt and response lengths of ppo and eval when the model's context
// holds them (InstructGPT-like budgets).
const (
	DefaultMaxPromptLen = 256
	DefaultMaxNewTokens = 128
)

// FitLengths chooses the prompt and response lengths that were not given
// (0) so that together they fit positions, the model's context (0 when
// unknown: the defaults are used). Lengths that were given are kept; when
// both were given and do not fit, Load refuses them with a *ContextError.
//
//   - Neither given: the defaults when they fit; else the prompt shrinks
//     first, to positions − defNew but not below half the context, and the
//     response takes the rest (up to defNew). 128 positions give 64 + 64.
//   - One given: the other takes what it leaves, up to its default; an
//     error when it leaves nothing.
func FitLengths(positions, prompt, newTokens, defPrompt, defNew int) (p, r int, err error) {
	p, r = prompt, newTokens
	if positions <= 0 {
		if p == 0 {
			p = defPrompt
		}
		if r == 0 {
			r = defNew
		}
		return p, r, nil
	}
	switch {
	case p > 0 && r > 0:
	case p > 0:
		if r = min(defNew, positions-p); r < 1 {
			return 0, 0, option.Errorf("{MaxPromptLen} %d leaves no room for a response in the model's %d positions", p, positions)
		}
	case r > 0:
		if p = min(defPrompt, positions-r); p < 1 {
			return 0, 0, option.Errorf("{MaxNewTokens} %d leaves no room for a prompt in the model's %d positions", r, positions)
		}
	default:
		if positions < 2 {
			return 0, 0, fmt.Errorf("the model's context of %d positions holds no prompt and response", positions)
		}
		p = min(defPrompt, max(positions-defNew, positions/2))
		r = min(defNew, positions-p)
	}
	return p, r, nil
}

// ContextOf is the smallest context (max positions) of the model folders
// whose config.json can be read; 0 when none can (Load reports why later).
func ContextOf(dirs ...string) int {
	n := 0
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		if cfg, err := model.LoadConfig(dir); err == nil && cfg.MaxPositions > 0 && (n == 0 || cfg.MaxPositions < n) {
			n = cfg.MaxPositions
		}
	}
	return n
}
