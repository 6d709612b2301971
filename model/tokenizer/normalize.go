package tokenizer

import (
	"fmt"

	"golang.org/x/text/unicode/norm"

	"github.com/sugarme/tokenizer/normalizer"
	"github.com/sugarme/tokenizer/pretrained"
)

// unicodeNormalizer applies a Unicode normalization form. sugarme's NFC runs
// the NFD iterator (so "é" becomes "e" + U+0301 and Qwen2 ids go wrong); this
// one uses golang.org/x/text/unicode/norm directly. The result starts a new
// NormalizedString, so offsets into the original text are not kept: Encode
// returns ids only.
type unicodeNormalizer struct{ form norm.Form }

func (u unicodeNormalizer) Normalize(n *normalizer.NormalizedString) (*normalizer.NormalizedString, error) {
	s := n.GetNormalized()
	if u.form.IsNormalString(s) {
		return n, nil
	}
	return normalizer.NewNormalizedFrom(u.form.String(s)), nil
}

// buildNormalizer turns the `normalizer` object of tokenizer.json into a
// sugarme Normalizer, building the Unicode forms (at any depth of a Sequence)
// ourselves and leaving the others to sugarme.
func buildNormalizer(cfg map[string]any) (normalizer.Normalizer, error) {
	if cfg == nil {
		return nil, nil
	}
	typ, _ := cfg["type"].(string)
	forms := map[string]norm.Form{"NFC": norm.NFC, "NFD": norm.NFD, "NFKC": norm.NFKC, "NFKD": norm.NFKD}
	if f, ok := forms[typ]; ok {
		return unicodeNormalizer{f}, nil
	}
	if typ == "Sequence" {
		list, ok := cfg["normalizers"].([]any)
		if !ok {
			return nil, fmt.Errorf("normalizer Sequence: want a list in \"normalizers\"")
		}
		var steps []normalizer.Normalizer
		for i, item := range list {
			sub, ok := item.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("normalizer Sequence item %d: want an object", i)
			}
			n, err := buildNormalizer(sub)
			if err != nil {
				return nil, err
			}
			if n != nil {
				steps = append(steps, n)
			}
		}
		return normalizer.NewSequence(steps), nil
	}
	return safeCreate(func() (normalizer.Normalizer, error) { return pretrained.CreateNormalizer(cfg) }, "normalizer "+typ)
}
