package tokenizer

import (
	"fmt"
	"strings"

	sm "github.com/sugarme/tokenizer"
	"github.com/sugarme/tokenizer/normalizer"
	"github.com/sugarme/tokenizer/pretokenizer"
)

// fastPipeline encodes text for the common case of a BPE model behind
// Split, ByteLevel and Metaspace pre-tokenizers or none (GPT-2, Qwen2,
// Llama-2/3, Mistral, Bloom and the tokenizers of this package). It works on
// plain strings: sugarme's pipeline keeps byte alignments for every step and
// spent most of its time allocating them (4-5x slower on the GPT-2
// benchmark), while Encode needs no offsets. Other pre-tokenizers go through
// sugarme's pipeline.
type fastPipeline struct {
	normalizer normalizer.Normalizer // may be nil
	steps      []fastStep
	byteLevel  bool // map bytes to GPT-2's alphabet before the model
	model      sm.Model
}

// fastStep is one Split (pattern set), ByteLevel or Metaspace step.
type fastStep struct {
	pattern        *regexPattern // nil: no splitting
	removed        bool          // drop the matches (Split behavior "Removed")
	addPrefixSpace bool
	metaspace      *metaspace
}

// metaspace is HF's Metaspace pre-tokenizer (SentencePiece style: spaces
// become "▁"). sugarme's replaces every whitespace character, always splits
// and reads prepend_scheme "first" per segment; this follows HF.
type metaspace struct {
	replacement string
	prepend     string // "always", "first" or "never"
	split       bool   // split before each replacement (MergedWithNext)
}

func (m *metaspace) apply(out []string, pc string, first bool) []string {
	pc = strings.ReplaceAll(pc, " ", m.replacement)
	if (m.prepend == "always" || (m.prepend == "first" && first)) && !strings.HasPrefix(pc, m.replacement) {
		pc = m.replacement + pc
	}
	if !m.split {
		return append(out, pc)
	}
	for len(pc) > 0 {
		i := strings.Index(pc[1:], m.replacement)
		if i < 0 {
			break
		}
		out = append(out, pc[:i+1])
		pc = pc[i+1:]
	}
	if pc != "" {
		out = append(out, pc)
	}
	return out
}

// byteChars is GPT-2's byte-to-unicode alphabet indexed by byte.
var byteChars = func() (t [256]string) {
	for b := range t {
		t[b] = pretokenizer.BytesChar[uint8(b)]
	}
	return t
}()

// newFastPipeline returns nil when the pre-tokenizer has a step the fast
// path does not implement.
func newFastPipeline(cfg map[string]any, normer normalizer.Normalizer, model sm.Model) (*fastPipeline, error) {
	p := &fastPipeline{normalizer: normer, model: model}
	if m, _ := cfg["model"].(map[string]any); m == nil || m["type"] != "BPE" {
		return nil, nil
	}
	var steps []map[string]any
	if pre, _ := cfg["pre_tokenizer"].(map[string]any); pre != nil {
		if pre["type"] == "Sequence" {
			list, _ := pre["pretokenizers"].([]any)
			for _, item := range list {
				sub, _ := item.(map[string]any)
				steps = append(steps, sub)
			}
		} else {
			steps = append(steps, pre)
		}
	}
	for i, st := range steps {
		switch st["type"] {
		case "Split":
			behavior, _ := st["behavior"].(string)
			invert, _ := st["invert"].(bool)
			if invert || (behavior != "Isolated" && behavior != "Removed") {
				return nil, nil
			}
			// buildSplit has already validated the pattern.
			pat, _ := st["pattern"].(map[string]any)
			expr, ok := pat["Regex"].(string)
			if !ok {
				return nil, nil
			}
			re, err := newRegexPattern(expr)
			if err != nil {
				return nil, err
			}
			p.steps = append(p.steps, fastStep{pattern: re, removed: behavior == "Removed"})
		case "ByteLevel":
			if i != len(steps)-1 {
				return nil, nil
			}
			s := fastStep{}
			s.addPrefixSpace, _ = st["add_prefix_space"].(bool)
			if useRegex, ok := st["use_regex"].(bool); !ok || useRegex {
				re, err := newRegexPattern(gpt2Pattern)
				if err != nil {
					return nil, err
				}
				s.pattern = re
			}
			p.steps = append(p.steps, s)
			p.byteLevel = true
		case "Metaspace":
			m := &metaspace{prepend: "always", split: true}
			m.replacement, _ = st["replacement"].(string)
			if m.replacement == "" {
				m.replacement = "\u2581"
			}
			if v, ok := st["prepend_scheme"].(string); ok {
				m.prepend = strings.ToLower(v)
			} else if v, ok := st["add_prefix_space"].(bool); ok && !v {
				m.prepend = "never"
			}
			if m.prepend != "always" && m.prepend != "first" && m.prepend != "never" {
				return nil, fmt.Errorf("pre_tokenizer Metaspace: unknown prepend_scheme %q", m.prepend)
			}
			if v, ok := st["split"].(bool); ok {
				m.split = v
			}
			p.steps = append(p.steps, fastStep{metaspace: m})
		default:
			return nil, nil
		}
	}
	return p, nil
}

// encode appends the ids of text, which holds no added token; atStart tells
// whether text begins the whole input.
func (p *fastPipeline) encode(ids []int, text string, atStart bool) ([]int, error) {
	if p.normalizer != nil {
		n, err := p.normalizer.Normalize(normalizer.NewNormalizedFrom(text))
		if err != nil {
			return ids, err
		}
		text = n.GetNormalized()
	}
	pieces := []string{text}
	for _, st := range p.steps {
		var next []string
		for j, pc := range pieces {
			if st.metaspace != nil {
				next = st.metaspace.apply(next, pc, atStart && j == 0)
				continue
			}
			if st.addPrefixSpace && pc != "" && pc[0] != ' ' {
				pc = " " + pc
			}
			if st.pattern == nil {
				next = append(next, pc)
				continue
			}
			for _, m := range st.pattern.FindMatches(pc) {
				if m.Offsets[0] == m.Offsets[1] || (st.removed && m.Match) {
					continue
				}
				next = append(next, pc[m.Offsets[0]:m.Offsets[1]])
			}
		}
		pieces = next
	}
	var sb strings.Builder
	for _, pc := range pieces {
		if pc == "" {
			continue
		}
		if p.byteLevel {
			sb.Reset()
			for i := 0; i < len(pc); i++ {
				sb.WriteString(byteChars[pc[i]])
			}
			pc = sb.String()
		}
		toks, err := p.model.Tokenize(pc)
		if err != nil {
			return ids, err
		}
		for _, t := range toks {
			ids = append(ids, t.Id)
		}
	}
	return ids, nil
}
