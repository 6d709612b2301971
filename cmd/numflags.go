package cmd

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/spf13/pflag"
)

// numRange is the valid range of a numeric flag. Every numeric flag of
// every command declares one with limits (TestEveryNumericFlagHasARange):
// a value the user gives, on the command line or in --config, is checked
// when the flag is set, so an explicit 0 or negative value is an error
// naming the flag and its range, never silently replaced by a default.
// Only a flag left out takes its default (which may be "not given", 0, for
// the library to choose, e.g. from the model's context).
type numRange struct {
	ok   func(v float64) bool
	want func(format func(float64) string) string
}

// atLeast accepts lo and more.
func atLeast(lo float64) numRange {
	return numRange{
		ok: func(v float64) bool { return v >= lo },
		want: func(f func(float64) string) string {
			if lo == 0 {
				return "want " + f(0) + " or more"
			}
			return "want at least " + f(lo)
		},
	}
}

// above accepts values greater than lo.
func above(lo float64) numRange {
	return numRange{
		ok:   func(v float64) bool { return v > lo },
		want: func(f func(float64) string) string { return "want more than " + f(lo) },
	}
}

// between accepts [lo, hi].
func between(lo, hi float64) numRange {
	return numRange{
		ok: func(v float64) bool { return v >= lo && v <= hi },
		want: func(f func(float64) string) string {
			return "want a value in [" + f(lo) + ", " + f(hi) + "]"
		},
	}
}

// aboveUpTo accepts (lo, hi].
func aboveUpTo(lo, hi float64) numRange {
	return numRange{
		ok: func(v float64) bool { return v > lo && v <= hi },
		want: func(f func(float64) string) string {
			return "want a value in (" + f(lo) + ", " + f(hi) + "]"
		},
	}
}

// nonZero accepts every value but 0 (seeds whose 0 would mean "the default").
func nonZero() numRange {
	return numRange{
		ok:   func(v float64) bool { return v != 0 },
		want: func(func(float64) string) string { return "want a value other than 0" },
	}
}

// anyValue accepts every value (e.g. a seed used as given).
func anyValue() numRange {
	return numRange{ok: func(float64) bool { return true }, want: func(func(float64) string) string { return "" }}
}

// rangeValue wraps a numeric flag's value with its range.
type rangeValue struct {
	pflag.Value
	r numRange
}

// Set parses s with the flag's own type, then refuses a value out of range
// (and NaN or ±Inf), keeping the previous value.
func (v *rangeValue) Set(s string) error {
	old := v.Value.String()
	if err := v.Value.Set(s); err != nil {
		return err
	}
	x, format, err := v.number()
	if err == nil && (math.IsNaN(x) || math.IsInf(x, 0) || !v.r.ok(x)) {
		want := v.r.want(format)
		if want == "" {
			want = "want a finite number"
		}
		err = fmt.Errorf("%s", want)
	}
	if err != nil {
		_ = v.Value.Set(old)
		return err
	}
	return nil
}

// number reads the value as a float64 (durations in seconds) and returns
// how to print a bound in the flag's own units.
func (v *rangeValue) number() (float64, func(float64) string, error) {
	s := v.Value.String()
	if v.Value.Type() == "duration" {
		d, err := time.ParseDuration(s)
		return d.Seconds(), func(x float64) string { return time.Duration(x * float64(time.Second)).String() }, err
	}
	x, err := strconv.ParseFloat(s, 64)
	return x, func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }, err
}

// limits gives the named numeric flags of f their ranges. A name that is
// not a flag of f is a programming error.
func limits(f *pflag.FlagSet, ranges map[string]numRange) {
	for name, r := range ranges {
		fl := f.Lookup(name)
		if fl == nil {
			panic("limits: no flag --" + name)
		}
		fl.Value = &rangeValue{Value: fl.Value, r: r}
	}
}

// valFrac accepts [0, 1): a share or probability that must leave something
// (the val share of rows, a dropout rate).
func valFrac() numRange {
	return numRange{
		ok:   func(v float64) bool { return v >= 0 && v < 1 },
		want: func(func(float64) string) string { return "want a share in [0, 1)" },
	}
}

// nearDup accepts (0, 1] and negative values (off); 0 would mean the default.
func nearDup() numRange {
	return numRange{
		ok:   func(v float64) bool { return v <= 1 && v != 0 },
		want: func(func(float64) string) string { return "want a similarity in (0, 1], or a negative value for off" },
	}
}
