// Package option is about one thing: errors about a field of an options
// struct (the struct a library function takes, such as train.PPOOptions).
//
// A library names the option it refuses by its Go field name, never by a
// command-line flag: Errorf("{MaxNewTokens} %d: want at least 1", n). Error
// renders the field as its name (MaxNewTokens); Render lets a caller that
// knows how the fields are set, such as a command that binds them to flags,
// name them its own way (--max-new-tokens).
package option

import (
	"fmt"
	"regexp"
	"strings"
)

// Field names a field of an options struct given as an argument of Errorf
// (for helpers told which option they check): it renders as {Field} does in
// the format. A path such as LoRA.Rank names a field of a nested struct.
type Field string

// Error is an error about fields of an options struct.
type Error struct {
	format string
	args   []any
	fields []string
}

// placeholder matches {Field} and {Struct.Field} in a format.
var placeholder = regexp.MustCompile(`\{([A-Z][A-Za-z0-9_]*(?:\.[A-Z][A-Za-z0-9_]*)*)\}`)

// Errorf formats like fmt.Errorf (%w wraps) and names the options fields
// written {Field} in format or given as Field arguments.
func Errorf(format string, args ...any) error {
	if false {
		_ = fmt.Errorf(format, args...) // go vet checks calls of Errorf as it does fmt.Errorf's
	}
	e := &Error{format: format, args: args}
	for _, m := range placeholder.FindAllStringSubmatch(format, -1) {
		e.fields = appendNew(e.fields, m[1])
	}
	for _, a := range args {
		switch a := a.(type) {
		case Field:
			e.fields = appendNew(e.fields, string(a))
		case error: // also when formatted with %v: a message part
			for _, f := range Fields(a) {
				e.fields = appendNew(e.fields, f)
			}
		}
	}
	return e
}

func appendNew(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// Fields returns the fields the message names (with those of the errors
// of this package among its arguments), in order of first mention.
func (e *Error) Fields() []string { return e.fields }

// Error renders each field as its name.
func (e *Error) Error() string { return e.render(nil) }

// Unwrap returns the errors wrapped with %w.
func (e *Error) Unwrap() []error {
	var errs []error
	i := 0
	for _, v := range verbRe.FindAllString(e.format, -1) {
		if v == "%%" {
			continue
		}
		if v == "%w" && i < len(e.args) {
			if err, ok := e.args[i].(error); ok {
				errs = append(errs, err)
			}
		}
		i++
	}
	return errs
}

// verbRe matches the verbs of a format (each takes one argument; flags,
// width and precision given as * are not used in messages).
var verbRe = regexp.MustCompile(`%[-+# 0]*[0-9]*(?:\.[0-9]*)?[a-zA-Z%]`)

func (e *Error) render(name func(string) string) string {
	if name == nil {
		name = func(f string) string { return f }
	}
	format := placeholder.ReplaceAllStringFunc(e.format, func(m string) string {
		return strings.ReplaceAll(name(m[1:len(m)-1]), "%", "%%")
	})
	format = strings.ReplaceAll(format, "%w", "%v")
	args := make([]any, len(e.args))
	for i, a := range e.args {
		switch a := a.(type) {
		case Field:
			args[i] = name(string(a))
		case error:
			args[i] = Render(a, name)
		default:
			args[i] = a
		}
	}
	return fmt.Sprintf(format, args...)
}

// Render returns err's message with every options field named by the
// errors of this package in err's tree (wrapped by them or by others)
// written as name(field); a nil name writes the field's name, as Error does.
func Render(err error, name func(field string) string) string {
	if err == nil {
		return ""
	}
	if e, ok := err.(*Error); ok {
		return e.render(name)
	}
	msg := err.Error()
	for _, e := range nearest(err) {
		msg = strings.Replace(msg, e.Error(), e.render(name), 1)
	}
	return msg
}

// nearest returns the errors of this package in err's tree that no other of
// them wraps.
func nearest(err error) []*Error {
	if e, ok := err.(*Error); ok {
		return []*Error{e}
	}
	var out []*Error
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		if w := u.Unwrap(); w != nil {
			out = append(out, nearest(w)...)
		}
	case interface{ Unwrap() []error }:
		for _, w := range u.Unwrap() {
			out = append(out, nearest(w)...)
		}
	}
	return out
}

// Fields returns every options field the errors of this package in err's
// tree name, in order of first mention.
func Fields(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if e, ok := err.(*Error); ok {
			for _, f := range e.fields {
				out = appendNew(out, f)
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, w := range u.Unwrap() {
				walk(w)
			}
		}
	}
	walk(err)
	return out
}
