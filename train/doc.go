// Package train holds the trainers of rlhf and the machinery they share.
//
// SFT, RM and DPO are supervised-style trainers: each gives its data, loss and
// validation to one loop, runSupervised (supervised.go), which owns
// accumulation, the non-finite guard, logging, validation, checkpoints,
// resume and stop. PPO (ppo*.go) is organised as OpenRLHF's trainer:
// setupPPO, then per iteration makeExperience → computeAdvantages (a
// swappable advantageEstimator) → update → KL controller. Encoding, the
// sequence layout, sampling and scoring come from package infer.
//
// The shared machinery:
//
//   - Schedule: linear warm-up then cosine decay of the learning rate;
//   - Optimizer: gradient accumulation, clipping by global norm, a
//     non-finite guard and GoMLX's AdamW, over the trainable variables of a
//     model.Store;
//   - checkpoints in Hugging Face layout plus trainer_state/ (optimizer
//     moments, step, data position, RNG state), written atomically, with
//     best/last retention (SaveCheckpoint, LoadTrainerState, LatestCheckpoint);
//   - MetricsLog (metrics.jsonl, one JSON object per logging step) and
//     PlotMetrics (PNG curves at the end of a run);
//   - data: padding, optional packing and deterministic shuffling of what
//     infer.Encoder tokenised.
//
// Naming: Options structs (SFTOptions, RMOptions) hold every tunable of a
// command, with its meaning, unit and default; RunSFT / RunRM are what the
// cobra commands call. "Step" always means an optimizer update (after
// gradient accumulation); "micro-batch" is one forward/backward pass.
package train
