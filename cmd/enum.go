package cmd

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"
)

// enumValue is a string flag over a closed set of values: anything else is
// refused when the flag is parsed (from the command line or --config), with
// the flag's name and the valid values, before the command runs.
type enumValue struct {
	target  *string
	allowed []string          // shown in help and errors
	aliases map[string]string // other accepted spellings → allowed value
}

func (e *enumValue) String() string { return *e.target }

func (e *enumValue) Type() string { return strings.Join(e.allowed, "|") }

func (e *enumValue) Set(s string) error {
	if a, ok := e.aliases[s]; ok {
		s = a
	}
	if !slices.Contains(e.allowed, s) {
		return fmt.Errorf("want one of %s", strings.Join(e.allowed, ", "))
	}
	*e.target = s
	return nil
}

// enumVar binds an enum flag: p starts at value, which must be allowed.
func enumVar(f *pflag.FlagSet, p *string, name, value string, allowed []string, usage string) {
	*p = value
	f.Var(&enumValue{target: p, allowed: allowed}, name, usage)
}

// dtypeVar binds --dtype: float32, bfloat16 or float16 (f32, bf16, f16 too).
func dtypeVar(f *pflag.FlagSet, p *string, usage string) {
	*p = "float32"
	f.Var(&enumValue{target: p, allowed: []string{"float32", "bfloat16", "float16"},
		aliases: map[string]string{"f32": "float32", "bf16": "bfloat16", "f16": "float16"}}, "dtype", usage)
}
