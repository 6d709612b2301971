// Package reward holds rule rewards: scores of a response computed by a
// rule (exact match, containment, word recall, a regular expression, length,
// or an external program) rather than by a reward model, for tasks with a
// checkable answer, and Sum, a weighted sum of rules used as one judge.
//
// `rlhf ppo` trains on rules (alone or added to the RM's score), `rlhf eval`
// reports them and uses a Sum as its gold judge, and `rlhf comparisons
// synthetic` ranks sampled answers by one, as a stand-in labeller.
package reward
