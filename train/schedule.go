package train

import "math"

// Schedule is a learning-rate schedule: linear warm-up from 0 to Peak over
// Warmup steps, then cosine decay to Peak*MinRatio at step Total. Steps are
// optimizer updates, counted from 0. The schedule is a pure function of the
// step, so resuming needs no state beyond the step number.
type Schedule struct {
	// Peak is the learning rate reached at the end of warm-up.
	Peak float64
	// Warmup is the number of warm-up steps (0: start at Peak).
	Warmup int
	// Total is the step at which decay ends (usually the run's total steps).
	// With Total <= Warmup the rate stays at Peak after warm-up.
	Total int
	// MinRatio is the final learning rate as a fraction of Peak (default 0.1
	// in the commands; 0 decays to zero).
	MinRatio float64
}

// At returns the learning rate used for the update of step (0-based).
func (s Schedule) At(step int) float64 {
	if s.Warmup > 0 && step < s.Warmup {
		return s.Peak * float64(step+1) / float64(s.Warmup)
	}
	if s.Total <= s.Warmup {
		return s.Peak
	}
	progress := float64(step-s.Warmup) / float64(s.Total-s.Warmup)
	progress = math.Min(1, math.Max(0, progress))
	minLR := s.Peak * s.MinRatio
	return minLR + (s.Peak-minLR)*0.5*(1+math.Cos(math.Pi*progress))
}
