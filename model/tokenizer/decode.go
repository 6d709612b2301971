package tokenizer

import (
	"fmt"
	"strings"

	sm "github.com/sugarme/tokenizer"
	"github.com/sugarme/tokenizer/decoder"
	"github.com/sugarme/tokenizer/pretrained"
)

// metaspaceDecoder is HF's Metaspace decoder: "▁" becomes a space, except
// in the first token when a prefix was prepended, where it is dropped.
// sugarme's keeps the first token's space.
type metaspaceDecoder struct {
	replacement rune
	stripFirst  bool // prepend_scheme is not "never"
}

func (m metaspaceDecoder) DecodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, tok := range tokens {
		out[i] = strings.Map(func(r rune) rune {
			if r != m.replacement {
				return r
			}
			if i == 0 && m.stripFirst {
				return -1
			}
			return ' '
		}, tok)
	}
	return out
}

func (m metaspaceDecoder) Decode(tokens []string) string {
	return strings.Join(m.DecodeChain(tokens), "")
}

// buildDecoder turns the `decoder` object of tokenizer.json into a sugarme
// Decoder, building Metaspace (at any depth of a Sequence) ourselves.
func buildDecoder(cfg map[string]any) (sm.Decoder, error) {
	if cfg == nil {
		return nil, nil
	}
	typ, _ := cfg["type"].(string)
	switch typ {
	case "Metaspace":
		m := metaspaceDecoder{replacement: '\u2581', stripFirst: true}
		if s, _ := cfg["replacement"].(string); s != "" {
			m.replacement = []rune(s)[0]
		}
		if s, ok := cfg["prepend_scheme"].(string); ok {
			m.stripFirst = strings.ToLower(s) != "never"
		} else if v, ok := cfg["add_prefix_space"].(bool); ok {
			m.stripFirst = v
		}
		return m, nil
	case "Sequence":
		list, ok := cfg["decoders"].([]any)
		if !ok {
			return nil, fmt.Errorf("decoder Sequence: want a list in \"decoders\"")
		}
		var steps []sm.Decoder
		for i, item := range list {
			sub, ok := item.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("decoder Sequence item %d: want an object", i)
			}
			d, err := buildDecoder(sub)
			if err != nil {
				return nil, err
			}
			if d != nil {
				steps = append(steps, d)
			}
		}
		return decoder.NewSequence(steps), nil
	}
	return safeCreate(func() (sm.Decoder, error) { return pretrained.CreateDecoder(cfg) }, "decoder "+typ)
}
