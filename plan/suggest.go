package plan

import (
	"fmt"
	"slices"
)

// Suggestion is one setting added to the run, with the estimate of the run
// with it and every suggestion before it.
type Suggestion struct {
	Change   string // what changes, in words
	Flags    string // the command's flags for it
	Estimate *Estimate
}

// Suggest lists settings that make a run that does not fit fit, cheapest
// first in quality: frozen models in bfloat16 (no effect on training),
// gradient checkpointing (a third more compute), a smaller micro-batch with
// more gradient accumulation (same updates, slower; for ppo a smaller
// --mini-batch down to 4, which means more, smaller updates), LoRA r=16 on the critic
// then the actor (fewer trained weights), bfloat16 compute, and last
// shorter sequences (less context). Each is added to the ones before it
// and kept only when it lowers the peak; the list stops at the first
// estimate that fits. It is empty when the run fits or the devices'
// memory is unknown; ok reports whether the last suggestion fits.
func Suggest(o Options) (s []Suggestion, ok bool, err error) {
	o.fill()
	cur, err := EstimateRun(o)
	if err != nil || cur.Fits() || len(o.Devices) == 0 {
		return nil, err == nil && cur.Fits(), err
	}
	try := func(change, flags string, apply func(*Options) bool) error {
		if cur.Fits() {
			return nil
		}
		next := o
		next.Devices = slices.Clone(o.Devices)
		if !apply(&next) {
			return nil
		}
		e, err := EstimateRun(next)
		if err != nil {
			return err
		}
		if peak(e) >= peak(cur) {
			return nil
		}
		o, cur = next, e
		s = append(s, Suggestion{Change: change, Flags: flags, Estimate: e})
		return nil
	}
	frozenModels := o.Step == StepPPO || o.Step == StepDPO
	steps := []struct {
		change, flags string
		apply         func(*Options) bool
	}{
		{"frozen models in bfloat16", "--ref-dtype bfloat16 --reward-dtype bfloat16", func(n *Options) bool {
			if !frozenModels || (n.RefDType != "float32" && n.RewardDType != "float32") {
				return false
			}
			n.RefDType, n.RewardDType = "bfloat16", "bfloat16"
			return true
		}},
		{"gradient checkpointing", "--grad-checkpoint", func(n *Options) bool {
			if n.GradCheckpoint {
				return false
			}
			n.GradCheckpoint = true
			return true
		}},
	}
	for _, st := range steps {
		if err := try(st.change, st.flags, st.apply); err != nil {
			return nil, false, err
		}
	}
	// Halve the micro-batch while it helps.
	for !cur.Fits() {
		var change, flags string
		if o.Step == StepPPO {
			if o.MiniBatch < 2*minPPOMiniBatch {
				break
			}
			change = "smaller PPO mini-batch (more, smaller updates)"
			flags = fmt.Sprintf("--mini-batch %d", o.MiniBatch/2)
		} else {
			if o.BatchSize <= 1 {
				break
			}
			change = "smaller micro-batch, more gradient accumulation (same updates)"
			flags = fmt.Sprintf("--batch-size %d --grad-accum %d", o.BatchSize/2, 2*o.GradAccum)
		}
		n := len(s)
		if err := try(change, flags, func(n *Options) bool {
			n.MiniBatch, n.BatchSize, n.GradAccum = max(1, n.MiniBatch/2), max(1, n.BatchSize/2), 2*n.GradAccum
			return true
		}); err != nil {
			return nil, false, err
		}
		if len(s) == n {
			break
		}
		if n > 0 && s[n-1].Change == change { // one line for the halvings
			s = append(s[:n-1], s[n])
		}
	}
	more := []struct {
		change, flags string
		apply         func(*Options) bool
	}{
		{"LoRA r=16 on the critic", "--critic-lora-rank 16 --critic-lora-targets all-linear", func(n *Options) bool {
			if n.Step != StepPPO || n.Algo != "ppo" || n.CriticLoRA.Rank > 0 {
				return false
			}
			n.CriticLoRA = LoRA{Rank: 16}
			n.fill()
			return true
		}},
		{"LoRA r=16", "--lora-rank 16 --lora-targets all-linear", func(n *Options) bool {
			if n.LoRA.Rank > 0 {
				return false
			}
			n.LoRA = LoRA{Rank: 16}
			n.fill()
			return true
		}},
		{"bfloat16 compute (frozen weights in bfloat16)", "--dtype bfloat16", func(n *Options) bool {
			if n.DType != "float32" {
				return false
			}
			n.DType = "bfloat16"
			if n.RefDType == "float32" {
				n.RefDType = "bfloat16"
			}
			if n.RewardDType == "float32" {
				n.RewardDType = "bfloat16"
			}
			return true
		}},
	}
	for _, st := range more {
		if err := try(st.change, st.flags, st.apply); err != nil {
			return nil, false, err
		}
	}
	// Last: shorter sequences.
	for !cur.Fits() {
		n := len(s)
		var flags string
		if o.Step == StepPPO {
			if o.MaxPromptLen+o.MaxNewTokens <= 64 {
				break
			}
			flags = fmt.Sprintf("--max-prompt-len %d --max-new-tokens %d", max(1, o.MaxPromptLen/2), max(1, o.MaxNewTokens/2))
		} else {
			if o.MaxSeqLen <= 64 {
				break
			}
			flags = fmt.Sprintf("--max-seq-len %d", o.MaxSeqLen/2)
		}
		if err := try("shorter sequences (less context)", flags, func(n *Options) bool {
			n.MaxSeqLen, n.MaxPromptLen, n.MaxNewTokens = n.MaxSeqLen/2, max(1, n.MaxPromptLen/2), max(1, n.MaxNewTokens/2)
			return true
		}); err != nil {
			return nil, false, err
		}
		if len(s) == n {
			break
		}
		if n > 0 && s[n-1].Change == s[n].Change {
			s = append(s[:n-1], s[n])
		}
	}
	return s, cur.Fits(), nil
}

// minPPOMiniBatch is the smallest --mini-batch Suggest proposes: below it
// PPO's updates get noisy enough that LoRA is the better trade.
const minPPOMiniBatch = 4

// peak is the largest device total, less its memory: how far the
// estimate is from fitting (the sum over devices when several overflow).
func peak(e *Estimate) int64 {
	var over int64
	for _, d := range e.Devices {
		over += max(0, d.Total()-d.Memory)
	}
	return over
}
