package train

import (
	"fmt"
	"math"
	"slices"

	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/option"
)

// A run whose losses explode fails instead of publishing a broken model
// with exit status 0 (as `sft --lr 1e6` did, at a loss of 4.6e13). The
// quantities watched:
//
//   - SFT and RM: the training loss of every applied update and every
//     validation loss;
//   - PPO: the critic's value loss and the actor's policy loss of every
//     applied update, and the iteration's mean KL to the reference per
//     response token.
//
// One has exploded when it is NaN or ±Inf, or above
// max(ExplodeFactor × |its reference|, ExplodeFloor). The reference of a
// loss is its value on the first batch of the run, computed on the weights
// the run started from (for validation losses: the first training loss);
// it is kept in the trainer state, so a resumed run has the same limit (a
// checkpoint written before this rule has none: the first loss after the
// resume becomes the reference).
// The KL's reference is 0 (the actor starts as the reference), so its
// limit is ExplodeFloor nats per token. NaN/Inf updates are first the
// divergence guard's (Guard, --skip-nonfinite): a skipped update is not
// checked here.
//
// The floor keeps the rule from firing on healthy runs: an SFT loss is at
// most about ln(vocabulary) ≈ 12 nats per token for an untrained model, an
// RM loss ln 2 ≈ 0.7 at the start; a loss of 1000 nats means weights that
// blew up. The factor keeps it from firing on losses that start large
// (a critic whose values are far from the normalised returns).
//
// When a quantity explodes, the run stops with an error that names it, its
// value and limit, and the newest checkpoint: the step (iteration) is not
// checkpointed (so --resume cannot continue from or publish its weights),
// the checkpoints already written stay for inspection or a --resume with a
// lower learning rate, and nothing is published.
//
// A reward model can also collapse without any loss exploding: at a huge
// learning rate its score saturates to one constant for every input and
// the pairwise loss sits at ln 2. Before publishing, RM scores its
// reference responses (for rlhf.json's reward_mean/reward_std); a
// non-finite reward, or the same reward for every one of two or more
// distinct responses, fails the run in the same way.
//
// Lightning's EarlyStopping(check_finite, divergence_threshold) stops on
// the same two signs (non-finite, above a threshold); the Hugging Face
// Trainer, which TRL builds on, does not stop on them.
const (
	ExplodeFactor = 100
	ExplodeFloor  = 1000.0
)

// explosionLimit is the largest value quantity key may take: ExplodeFactor
// times its reference, at least ExplodeFloor. When the run has no
// reference yet and x is one (setsRef: a loss of the weights the run
// started from, or the first after a resume) and finite, x becomes the
// reference (recorded in state.Extra["first_"+key], which checkpoints keep).
func explosionLimit(state *TrainerState, key string, x float64, setsRef bool) (limit, ref float64) {
	if state.Extra == nil {
		state.Extra = map[string]float64{}
	}
	ref, ok := state.Extra["first_"+key]
	if !ok && setsRef && finite(x) {
		ref = x
		state.Extra["first_"+key] = x
	}
	return max(ExplodeFactor*math.Abs(ref), ExplodeFloor), ref
}

// explosion describes a watched quantity: what (e.g. "validation loss")
// with value x, its limit, and refWhat (what its reference is, e.g. "the
// first training loss"; "" when the limit is ExplodeFloor alone).
type explosion struct {
	what, refWhat string
	x, limit, ref float64
}

// exploded reports whether e.x is non-finite or above its limit.
func (e explosion) exploded() bool { return !finite(e.x) || e.x > e.limit }

// error is the error of a run that exploded at unit n (e.g. "step", 12)
// with e: where the checkpoints are (last: the newest one, "" when none
// was written) and what to do (advice, an option.Errorf naming the options
// to change, e.g. "lower {LR} (now 1e+06)").
func (e explosion) error(unit string, n int, last string, advice error) error {
	why := "is not finite"
	if finite(e.x) {
		why = fmt.Sprintf("is above %g", e.limit)
		if e.refWhat != "" {
			why += fmt.Sprintf(" (%d × %s %.4g, at least %g)", ExplodeFactor, e.refWhat, e.ref, ExplodeFloor)
		}
	}
	kept, then := "no checkpoint was written yet", option.Errorf("then run it again")
	if last != "" {
		kept = "the checkpoints written before stay, the newest is " + last
		then = option.Errorf("then {Resume} (from the newest checkpoint) or start again in a new {Out}")
	}
	return option.Errorf("training diverged at %s %d: the %s %v %s; the model is not published and this %s is not checkpointed (%s); %s; %s",
		unit, n, e.what, e.x, why, unit, kept, advice, then)
}

// klExplosion is PPO's watch on the KL: meanKL is the iteration's mean KL
// to the reference per sequence (nats), meanLen its mean response length.
func klExplosion(meanKL, meanLen float64) explosion {
	return explosion{what: "mean KL to the reference per response token (nats)", x: meanKL / max(meanLen, 1), limit: ExplodeFloor}
}

// collapsedRewards returns the error of a collapsed reward model: rewards
// (of the reference sequences refs, by the model of checkpoint ckpt) with
// a NaN/Inf, or all equal although the sequences differ. last is the
// newest checkpoint, lr the --lr.
func collapsedRewards(refs []infer.Encoded, rewards []float64, ckpt, last string, lr float64) error {
	why := ""
	for i, r := range rewards {
		if !finite(r) {
			why = fmt.Sprintf("gives reference response %d of %d the reward %v", i+1, len(rewards), r)
			break
		}
	}
	if why == "" && len(rewards) > 1 && !slices.ContainsFunc(rewards, func(r float64) bool { return r != rewards[0] }) &&
		slices.ContainsFunc(refs, func(e infer.Encoded) bool { return !slices.Equal(e.Tokens, refs[0].Tokens) }) {
		why = fmt.Sprintf("gives all %d reference responses the same reward %v (it collapsed to a constant)", len(rewards), rewards[0])
	}
	if why == "" {
		return nil
	}
	return option.Errorf("training diverged: the reward model of %s %s; the model is not published (the checkpoints stay, the newest is %s); lower {LR} (now %g), raise {Warmup} or keep {ClipGrad} on, and start again in a new {Out} ({Resume} would publish the same model)",
		ckpt, why, last, lr)
}
