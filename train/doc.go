// Package train holds the training loops of rlhf (supervised fine-tuning and
// reward-model training; PPO builds on the same pieces) and the machinery
// they share:
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
//   - data: tokenisation with a checkpoint's prompt template, truncation,
//     padding, optional packing, deterministic shuffling (Loader).
//
// Naming: Options structs (SFTOptions, RMOptions) hold every tunable of a
// command, with its meaning, unit and default; RunSFT / RunRM are what the
// cobra commands call. "Step" always means an optimizer update (after
// gradient accumulation); "micro-batch" is one forward/backward pass.
package train
