package model

// ParamCount is the number of scalars in the weights of a model with this
// config: the base model, an untied LM head when lmHead (a causal LM), and
// the score head when NumLabels > 0. Memory estimates (package plan) start
// from it.
func (c *Config) ParamCount(lmHead bool) int64 {
	var n int64
	for _, w := range c.weights(lmHead) {
		s := int64(1)
		for _, d := range w.Shape {
			s *= int64(d)
		}
		n += s
	}
	return n
}

// LoRAParamCount is the number of scalars of the adapters LoRA of the given
// rank on targets (PEFT names or AllLinear, matched as AddLoRA matches them)
// adds to a model with this config: rank·(in+out) per adapted matrix. A
// target that matches no linear map is the error AddLoRA gives.
func (c *Config) LoRAParamCount(lmHead bool, rank int, targets []string) (int64, error) {
	var cands []weight
	for _, w := range c.linears(lmHead) {
		if w.Name != ScoreWeight {
			cands = append(cands, w)
		}
	}
	ws, err := matchTargets(cands, targets)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, w := range ws {
		in, out := w.inOut()
		n += int64(rank) * int64(in+out)
	}
	return n, nil
}
