package train

import (
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/rlhf-project/rlhf/infer"
	"github.com/rlhf-project/rlhf/model"
)

// The PPO graphs: the critic's values over [P|R] sequences (infer.Sequences)
// and the actor's and critic's losses. Each loss reads its inputs through
// one struct (actorBatch, criticBatch) that both builds the executable's
// arguments and names the graph's parameters, and reports its metrics
// through one struct (actorStats, criticStats), so no caller indexes
// inputs or metrics by position.

// criticValues is V(state before response token t): [B,R].
func criticValues(m *model.Model, tokens, mask, respMask *Node) *Node {
	h, _ := infer.ResponseHidden(m, tokens, mask, respMask.Shape().Dim(1))
	return ConvertDType(m.Values(h), dtypes.Float32)
}

// newValueExec compiles criticValues of m.
func newValueExec(backend compute.Backend, m *model.Model) *gmodel.Exec {
	return gmodel.MustNewExec(backend, m.Store, func(_ *gmodel.Scope, tokens, mask, respMask *Node) *Node {
		return criticValues(m, tokens, mask, respMask)
	})
}

// actorBatch is one mini-batch of the actor's update: rows of the
// experience ([b,T] tokens and mask, [b,R] response mask, rollout
// log-probs and advantages), the loss coefficients, for GRPO the
// reference's log-probs and the KL loss weight, and an optional ptx batch
// of pre-training data.
type actorBatch struct {
	tokens, mask, respMask, oldLogp, adv *tensors.Tensor
	clip, entCoef, ptxCoef               float32
	// refLogp ([b,R]) and klCoef are set for GRPO's KL loss term only.
	refLogp *tensors.Tensor
	klCoef  float32
	ptx     *Batch
}

// args are the executable's arguments, in the order actorNodesOf reads them.
func (b actorBatch) args() []any {
	in := []any{b.tokens, b.mask, b.respMask, b.oldLogp, b.adv, b.clip, b.entCoef, b.ptxCoef}
	if b.refLogp != nil {
		in = append(in, b.refLogp, b.klCoef)
	}
	if b.ptx != nil {
		in = append(in, SFTInputs(*b.ptx)...)
	}
	return in
}

// actorNodes are actorBatch's graph parameters.
type actorNodes struct {
	tokens, mask, respMask, oldLogp, adv *Node
	clip, entCoef, ptxCoef               *Node
	// refLogp and klCoef are nil without the KL loss term.
	refLogp, klCoef *Node
	// ptx is nil without a ptx batch; else tokens, mask, targets, weights.
	ptx []*Node
}

// actorNodesOf names the parameters; withKL says whether the batch
// carries the KL loss's inputs (fixed per run: GRPO).
func actorNodesOf(in []*Node, withKL bool) actorNodes {
	n := actorNodes{tokens: in[0], mask: in[1], respMask: in[2], oldLogp: in[3], adv: in[4],
		clip: in[5], entCoef: in[6], ptxCoef: in[7]}
	rest := in[8:]
	if withKL {
		n.refLogp, n.klCoef, rest = rest[0], rest[1], rest[2:]
	}
	if len(rest) > 0 {
		n.ptx = rest[:4]
	}
	return n
}

// actorStats are the actor loss's metrics of one mini-batch (or their
// means over an update).
type actorStats struct {
	policyLoss, entropy, clipFrac, approxKL, ptxLoss, klLoss float64
}

// actorMetrics are the actor loss's metric nodes, by name.
type actorMetrics struct {
	policyLoss, entropy, clipFrac, approxKL, ptxLoss, klLoss *Node
}

// nodes lists the metric nodes in the order actorStatsOf reads them.
func (m actorMetrics) nodes() []*Node {
	return []*Node{m.policyLoss, m.entropy, m.clipFrac, m.approxKL, m.ptxLoss, m.klLoss}
}

func actorStatsOf(r MicroResult) actorStats {
	m := r.Metrics
	return actorStats{policyLoss: m[0], entropy: m[1], clipFrac: m[2], approxKL: m[3], ptxLoss: m[4], klLoss: m[5]}
}

func (s *actorStats) add(o actorStats) {
	s.policyLoss += o.policyLoss
	s.entropy += o.entropy
	s.clipFrac += o.clipFrac
	s.approxKL += o.approxKL
	s.ptxLoss += o.ptxLoss
	s.klLoss += o.klLoss
}

// scale divides every mean by n (the number of updates).
func (s *actorStats) scale(n float64) {
	s.policyLoss, s.entropy, s.clipFrac = s.policyLoss/n, s.entropy/n, s.clipFrac/n
	s.approxKL, s.ptxLoss, s.klLoss = s.approxKL/n, s.ptxLoss/n, s.klLoss/n
}

// ppoActorLoss is the actor's LossFn over an actorBatch: PPO's clipped
// surrogate, minus the entropy bonus, plus the ptx language-model loss,
// plus (withKL: GRPO) klCoef × the KL to the reference (KLLoss).
func ppoActorLoss(m *model.Model, withKL bool) LossFn {
	return func(_ *gmodel.Scope, in []*Node) (*Node, []*Node) {
		b := actorNodesOf(in, withKL)
		logp, ent := infer.ResponseLogProbs(m, b.tokens, b.mask, b.respMask)
		pg, clipFrac, approxKL := PolicyLoss(logp, b.oldLogp, b.adv, b.respMask, b.clip)
		entropy := model.MaskedMean(ent, b.respMask)
		var ptx *Node
		met := actorMetrics{policyLoss: StopGradient(pg), entropy: StopGradient(entropy), clipFrac: clipFrac, approxKL: approxKL,
			ptxLoss: ZerosLike(pg), klLoss: ZerosLike(pg)}
		if b.ptx != nil {
			sum, n := sftNLL(m, b.ptx[0], b.ptx[1], b.ptx[2], b.ptx[3])
			ptx = Div(sum, Max(n, OnesLike(n)))
			met.ptxLoss = StopGradient(ptx)
		}
		loss := ActorLoss(pg, entropy, ptx, b.entCoef, b.ptxCoef)
		if withKL {
			kl := KLLoss(logp, b.refLogp, b.respMask)
			loss = Add(loss, Mul(b.klCoef, kl))
			met.klLoss = StopGradient(kl)
		}
		return loss, met.nodes()
	}
}

// criticBatch is one mini-batch of the critic's update: rows of the
// experience, the values predicted at rollout time, the returns to regress
// on, and the value clip range.
type criticBatch struct {
	tokens, mask, respMask, oldValues, returns *tensors.Tensor
	valueClip                                  float32
}

// args are the executable's arguments, in the order criticNodesOf reads them.
func (b criticBatch) args() []any {
	return []any{b.tokens, b.mask, b.respMask, b.oldValues, b.returns, b.valueClip}
}

// criticNodes are criticBatch's graph parameters.
type criticNodes struct {
	tokens, mask, respMask, oldValues, returns, valueClip *Node
}

func criticNodesOf(in []*Node) criticNodes {
	return criticNodes{tokens: in[0], mask: in[1], respMask: in[2], oldValues: in[3], returns: in[4], valueClip: in[5]}
}

// criticStats are the critic loss's metrics: its loss, the fraction of
// clipped values and the mean predicted value.
type criticStats struct {
	loss, clipFrac, valueMean float64
}

func criticStatsOf(r MicroResult) criticStats {
	return criticStats{loss: r.Loss, clipFrac: r.Metrics[0], valueMean: r.Metrics[1]}
}

// ppoCriticLoss is the critic's LossFn over a criticBatch: the clipped
// value loss.
func ppoCriticLoss(m *model.Model) LossFn {
	return func(_ *gmodel.Scope, in []*Node) (*Node, []*Node) {
		b := criticNodesOf(in)
		values := criticValues(m, b.tokens, b.mask, b.respMask)
		loss, clipFrac := ValueLoss(values, b.oldValues, b.returns, b.respMask, b.valueClip)
		return loss, []*Node{clipFrac, StopGradient(model.MaskedMean(values, b.respMask))}
	}
}
