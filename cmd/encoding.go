package cmd

import (
	"github.com/spf13/pflag"

	"github.com/rlhf-project/rlhf/dataset"
)

// encodingValue is the --encoding flag: one of dataset.Encodings.
type encodingValue struct{ enc *dataset.Encoding }

func (v encodingValue) Set(s string) error {
	e, err := dataset.ParseEncoding(s)
	if err != nil {
		return err // pflag names the flag: invalid argument "x" for "--encoding" flag: ...
	}
	*v.enc = e
	return nil
}

func (v encodingValue) String() string {
	if v.enc == nil || *v.enc == "" {
		return string(dataset.UTF8)
	}
	return string(*v.enc)
}

func (v encodingValue) Type() string { return "encoding" }

// bindEncodingFlag binds --encoding, the character encoding of the text
// inputs (what names them), to enc.
func bindEncodingFlag(f *pflag.FlagSet, enc *dataset.Encoding, what string) {
	f.Var(encodingValue{enc}, "encoding", "character encoding of "+what+": utf-8, gbk, gb18030 or big5 (invalid UTF-8 is an error naming file and line)")
}
