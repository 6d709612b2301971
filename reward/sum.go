package reward

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Sum is a judge made of rules: the score of a response is the weighted sum
// of its rules' scores.
type Sum struct {
	// Rules are the parsed rules, in order.
	Rules []*Rule
	// Weights weigh Rules, one each.
	Weights []float64
}

// ParseSum parses rule specs (see Rule) and their weights: none (1 each) or
// one per spec, finite. timeout bounds each call of a cmd: program (0:
// DefaultTimeout).
func ParseSum(specs []string, weights []float64, timeout time.Duration) (*Sum, error) {
	if len(specs) == 0 {
		return nil, fmt.Errorf("no rule given")
	}
	if len(weights) == 0 {
		weights = make([]float64, len(specs))
		for i := range weights {
			weights[i] = 1
		}
	}
	if len(weights) != len(specs) {
		return nil, fmt.Errorf("%d weights for %d rules: want one per rule, in order", len(weights), len(specs))
	}
	s := &Sum{Weights: weights}
	for i, spec := range specs {
		if math.IsNaN(weights[i]) || math.IsInf(weights[i], 0) {
			return nil, fmt.Errorf("weight %d of rule %q is %v: want a finite number", i+1, spec, weights[i])
		}
		r, err := Parse(spec)
		if err != nil {
			return nil, err
		}
		r.Timeout = timeout
		s.Rules = append(s.Rules, r)
	}
	return s, nil
}

// NeedsReference reports whether any rule compares with the reference.
func (s *Sum) NeedsReference() bool {
	for _, r := range s.Rules {
		if r.NeedsReference() {
			return true
		}
	}
	return false
}

// String is the judge as specs and weights, e.g. "recall + 0.5×regex:!$".
func (s *Sum) String() string {
	parts := make([]string, len(s.Rules))
	for i, r := range s.Rules {
		parts[i] = r.Spec
		if s.Weights[i] != 1 {
			parts[i] = strconv.FormatFloat(s.Weights[i], 'g', -1, 64) + "×" + r.Spec
		}
	}
	return strings.Join(parts, " + ")
}

// Score scores the responses, in order.
func (s *Sum) Score(ctx context.Context, in []Input) ([]float64, error) {
	out := make([]float64, len(in))
	for i, r := range s.Rules {
		got, err := r.Score(ctx, in)
		if err != nil {
			return nil, err
		}
		for j, v := range got {
			out[j] += s.Weights[i] * v
		}
	}
	return out, nil
}
