package cmd

import (
	"reflect"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rlhf-project/rlhf/option"
)

// nameFlags makes the errors of c's run function name c's flags: the
// libraries name the options they refuse by field ({MaxNewTokens}, see
// package option) and opts are the options structs (pointers) whose fields
// c's flags are bound to. Which flag sets which field is read from the
// bindings themselves (the address each flag's value writes to), so no
// command keeps a table; a field no flag sets keeps its name.
func nameFlags(c *cobra.Command, opts ...any) *cobra.Command {
	run := c.RunE
	c.RunE = func(cc *cobra.Command, args []string) error {
		err := run(cc, args)
		if err == nil || option.Fields(err) == nil {
			return err
		}
		flags := flagsOfFields(cc, opts...)
		return &flagError{msg: option.Render(err, func(field string) string {
			if name, ok := flags[field]; ok {
				return "--" + name
			}
			return field
		}), err: err}
	}
	return c
}

// flagError is an error whose message names flags where its tree names
// options fields.
type flagError struct {
	msg string
	err error
}

func (e *flagError) Error() string { return e.msg }
func (e *flagError) Unwrap() error { return e.err }

// flagsOfFields maps the fields of the structs opts point to (promoted
// fields of embedded structs by their own name, others by a path such as
// LoRA.Rank) to the name of the flag of c bound to them.
func flagsOfFields(c *cobra.Command, opts ...any) map[string]string {
	byAddr := map[uintptr]string{} // flag name by the address its value writes
	visit := func(f *pflag.Flag) {
		for _, p := range valuePointers(reflect.ValueOf(f.Value), 3) {
			if _, ok := byAddr[p]; !ok {
				byAddr[p] = f.Name
			}
		}
	}
	c.Flags().VisitAll(visit)
	c.InheritedFlags().VisitAll(visit)

	out := map[string]string{}
	depth := map[string]int{}
	var walk func(v reflect.Value, prefix string, d int)
	walk = func(v reflect.Value, prefix string, d int) {
		t := v.Type()
		for i := range t.NumField() {
			sf, fv := t.Field(i), v.Field(i)
			switch {
			case sf.Anonymous && fv.Kind() == reflect.Struct:
				walk(fv, prefix, d+1) // promoted fields keep their own name
			case !sf.IsExported():
			case fv.Kind() == reflect.Struct:
				walk(fv, prefix+sf.Name+".", d+1)
			default:
				path := prefix + sf.Name
				name, bound := byAddr[fv.Addr().Pointer()]
				if old, seen := depth[path]; bound && (!seen || d < old) {
					out[path], depth[path] = name, d
				}
			}
		}
	}
	for _, o := range opts {
		v := reflect.ValueOf(o)
		if v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct {
			walk(v.Elem(), "", 0)
		}
	}
	return out
}

// valuePointers returns the addresses a flag value may write to: the value
// itself when it is a pointer (pflag's int, string, bool... values), and the
// pointers it holds (pflag's slice values, enumValue, encodingValue),
// through the values it wraps (rangeValue).
func valuePointers(v reflect.Value, depth int) []uintptr {
	if depth == 0 || !v.IsValid() {
		return nil
	}
	var out []uintptr
	switch v.Kind() {
	case reflect.Interface:
		if !v.IsNil() {
			out = append(out, valuePointers(v.Elem(), depth)...)
		}
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		out = append(out, v.Pointer())
		if v.Elem().Kind() == reflect.Struct {
			out = append(out, valuePointers(v.Elem(), depth-1)...)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Field(i)
			switch f.Kind() {
			case reflect.Pointer:
				if !f.IsNil() {
					out = append(out, f.Pointer())
				}
			case reflect.Interface:
				out = append(out, valuePointers(f, depth-1)...)
			}
		}
	}
	return out
}
