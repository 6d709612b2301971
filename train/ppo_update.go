package train

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rlhf-project/rlhf/option"
)

// updateStats are the means over one iteration's updates.
type updateStats struct {
	critic       criticStats
	actor        actorStats
	trainedActor bool // false during the critic warm-up
	tokens       int  // sequence tokens trained on (rows × T, every epoch)
	time         time.Duration
}

// update trains on the experience for PPOEpochs passes in shuffled
// mini-batches: one critic step (PPO) and (after the warm-up) one actor
// step each.
func (r *ppoRun) update(exp *experience, iter int) (updateStats, error) {
	o := r.o
	t0 := time.Now()
	st := updateStats{trainedActor: iter >= o.CriticWarmup}
	updates := 0.0
	order := rand.New(rand.NewPCG(o.Seed, uint64(iter)+0xabc))
	for range o.PPOEpochs {
		perm := order.Perm(exp.N)
		for lo := 0; lo < exp.N; lo += o.MiniBatch {
			rows := perm[lo:min(lo+o.MiniBatch, exp.N)]
			if r.critic != nil {
				cs, err := r.criticStep(exp, rows, iter)
				if err != nil {
					return st, err
				}
				st.critic.loss += cs.loss
				st.critic.clipFrac += cs.clipFrac
			}
			if st.trainedActor {
				as, err := r.actorStep(exp, rows, iter)
				if err != nil {
					return st, err
				}
				st.actor.add(as)
			}
			updates++
			st.tokens += len(rows) * exp.T()
		}
	}
	st.critic.loss /= updates
	st.critic.clipFrac /= updates
	st.actor.scale(updates)
	st.time = time.Since(t0)
	return st, nil
}

// criticStep is one critic update on rows of the experience.
func (r *ppoRun) criticStep(exp *experience, rows []int, iter int) (criticStats, error) {
	tokens, mask, pt := exp.Rows(rows, exp.RespMask, exp.values, exp.returns)
	b := criticBatch{tokens: tokens, mask: mask, respMask: pt[0], oldValues: pt[1], returns: pt[2], valueClip: float32(r.o.ValueClip)}
	res, err := r.criticOpt.Micro(b.args()...)
	if err != nil {
		return criticStats{}, err
	}
	step, err := r.criticOpt.Step(r.o.CriticLR)
	if err != nil {
		return criticStats{}, err
	}
	if err := r.guard.Check(iter, step, res.Loss, r.ckpt.last); err != nil {
		return criticStats{}, fmt.Errorf("critic: %w", err)
	}
	if step.Applied {
		if err := r.explodedLoss(iter, "value_loss", "critic's value loss", res.Loss, option.Errorf("lower {CriticLR} (now %g)", r.o.CriticLR)); err != nil {
			return criticStats{}, err
		}
	}
	return criticStatsOf(res), nil
}

// actorStep is one actor update on rows of the experience (and the next
// ptx batch with PPO-ptx; the reference's log-probs for GRPO's KL loss).
func (r *ppoRun) actorStep(exp *experience, rows []int, iter int) (actorStats, error) {
	o := r.o
	perToken := [][]float32{exp.RespMask, exp.logp, exp.adv}
	withKL := o.Algo == AlgoGRPO
	if withKL {
		perToken = append(perToken, exp.refLogp)
	}
	tokens, mask, pt := exp.Rows(rows, perToken...)
	b := actorBatch{tokens: tokens, mask: mask, respMask: pt[0], oldLogp: pt[1], adv: pt[2],
		clip: float32(o.Clip), entCoef: float32(o.EntropyCoef), ptxCoef: float32(o.PtxCoef)}
	if withKL {
		b.refLogp, b.klCoef = pt[3], float32(exp.beta)
	}
	if r.ptx != nil {
		b.ptx = r.ptx.next(o.PtxBatch)
	}
	res, err := r.actorOpt.Micro(b.args()...)
	if err != nil {
		return actorStats{}, err
	}
	step, err := r.actorOpt.Step(o.LR)
	if err != nil {
		return actorStats{}, err
	}
	if err := r.guard.Check(iter, step, res.Loss, r.ckpt.last); err != nil {
		return actorStats{}, fmt.Errorf("actor: %w", err)
	}
	if step.Applied {
		if err := r.explodedLoss(iter, "policy_loss", "actor's policy loss", res.Loss, option.Errorf("lower {LR} (now %g)", o.LR)); err != nil {
			return actorStats{}, err
		}
	}
	return actorStatsOf(res), nil
}

// explodedLoss returns the error of a diverged run when loss, of quantity
// key (what: its name in the message) in iteration iter (0-based), is
// non-finite or above the limit of its kind (see ExplodeFactor); advice
// says which learning rate to lower.
func (r *ppoRun) explodedLoss(iter int, key, what string, loss float64, advice error) error {
	e := explosion{what: what, x: loss, refWhat: "its first value"}
	e.limit, e.ref = explosionLimit(r.state, key, loss, true)
	if !e.exploded() {
		return nil
	}
	return e.error("iteration", iter+1, r.ckpt.last, option.Errorf("%v or keep {ClipGrad} on", advice))
}
