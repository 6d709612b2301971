package train

import (
	"log/slog"

	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/option"
)

// PPO's memory options: LoRA on actor and critic (a reference sharing the
// actor's frozen base), gradient checkpointing, and frozen models stored in
// a half dtype.

// memoryDefaults fills the LoRA defaults and the frozen models' dtypes.
func (o *PPOOptions) memoryDefaults() {
	o.LoRA.fill()
	o.CriticLoRA.fill()
	half := "float32"
	if o.DType == "bfloat16" || o.DType == "float16" {
		half = o.DType
	}
	if o.RefDType == "" {
		o.RefDType = half
	}
	if o.RewardDType == "" {
		o.RewardDType = half
	}
}

// checkMemory validates the memory options.
func (o *PPOOptions) checkMemory() error {
	if err := o.LoRA.check("LoRA"); err != nil {
		return err
	}
	if err := o.CriticLoRA.check("CriticLoRA"); err != nil {
		return err
	}
	for _, f := range []struct {
		field option.Field
		v     string
	}{{"RefDType", o.RefDType}, {"RewardDType", o.RewardDType}} {
		if _, err := model.ParseDType(f.v); err != nil {
			return option.Errorf("%s %q: want float32, bfloat16 or float16", f.field, f.v)
		}
	}
	return nil
}

// sharedRef reports whether the reference is the actor's base with the
// adapters off: with LoRA on the actor, when both run on one device.
func (r *ppoRun) sharedRef() bool {
	o := r.o
	spec := func(s string) string {
		if s == "" {
			return o.Backend
		}
		return s
	}
	return o.LoRA.Enabled() && spec(o.RefDevice) == spec(o.ActorDevice)
}

// prepareMemory applies LoRA and gradient checkpointing to actor and
// critic, and stores the frozen reference (unless shared) and reward model
// in their dtypes; it runs once the models have their compute dtype.
func (r *ppoRun) prepareMemory(resuming bool) error {
	o := r.o
	if err := prepareLoRA("Policy", "LoRA", r.actor, o.LoRA, o.Policy, resuming, o.Seed); err != nil {
		return err
	}
	r.actor.GradCheckpoint = o.GradCheckpoint
	if r.critic != nil { // critic-free algorithms have none
		if err := prepareLoRA("Critic", "CriticLoRA", r.critic, o.CriticLoRA, o.Critic, resuming, o.Seed+1); err != nil {
			return err
		}
		r.critic.GradCheckpoint = o.GradCheckpoint
	}
	frozen := func(field option.Field, dtype string, m *model.Model, store bool) error {
		if err := m.SetComputeDType(dtype); err != nil {
			return option.Errorf("%s: %w", field, err)
		}
		if !store {
			return nil
		}
		if err := m.MergeLoRA(); err != nil { // an adapter folder: one matrix per map
			return err
		}
		dt, err := model.ParseDType(dtype)
		if err != nil {
			return option.Errorf("%s: %w", field, err)
		}
		return m.StoreWeightsAs(dt)
	}
	shared := r.sharedRef()
	if err := frozen("RefDType", o.RefDType, r.ref, !shared); err != nil {
		return err
	}
	if r.rm != nil {
		if err := frozen("RewardDType", o.RewardDType, r.rm, true); err != nil {
			return err
		}
	}
	if shared {
		slog.Info("the reference policy is the actor's frozen base with its LoRA adapters off (one copy of the weights)", "ref_dtype", o.RefDType)
	}
	return nil
}
