// Package infer serves trained models: it loads a checkpoint with its
// tokenizer (Load), encodes prompts the way every stage agrees on (Encoder:
// the one prompt encoder of rlhf), lays prompt+response sequences out for
// batched scoring (Sequences), samples responses (Sample), scores them
// (LogProbExec for per-token log-probs, Scorer for summed log-probs or
// reward-model rewards, RewardNorm for the reward model's normalisation),
// and runs the `generate`, `score` and `eval` commands over datasets.
//
// Training (package train) builds on these pieces; infer knows nothing of
// training.
package infer
