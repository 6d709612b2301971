package tokenizer

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
	sm "github.com/sugarme/tokenizer"
	"github.com/sugarme/tokenizer/normalizer"
	"github.com/sugarme/tokenizer/pretokenizer"
	"github.com/sugarme/tokenizer/pretrained"
)

// gpt2Pattern is the pre-tokenization pattern of GPT-2, which HF's ByteLevel
// pre-tokenizer applies when `use_regex` is true. sugarme drops its last two
// alternatives because Go's regexp has no look-ahead; we keep it whole.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

// regexPattern is a normalizer.Pattern backed by regexp2, so that patterns
// with look-around (Qwen2, Llama-3, GPT-2) run as HF runs them (HF uses
// Oniguruma, a backtracking engine like regexp2).
type regexPattern struct{ re *regexp2.Regexp }

func newRegexPattern(expr string) (*regexPattern, error) {
	re, err := regexp2.Compile(expr, regexp2.None)
	if err != nil {
		return nil, err
	}
	return &regexPattern{re: re}, nil
}

// FindMatches implements normalizer.Pattern: it covers the whole string with
// contiguous (start, end) byte ranges, marking the ones the pattern matched.
// regexp2 reports rune positions, which are converted to byte offsets here.
// Empty matches are skipped, as HF drops empty splits.
func (p *regexPattern) FindMatches(inside string) []normalizer.OffsetsMatch {
	if inside == "" {
		return []normalizer.OffsetsMatch{{Offsets: []int{0, 0}, Match: false}}
	}
	runes := []rune(inside)
	byteAt := make([]int, len(runes)+1)
	for i, r := range runes {
		byteAt[i+1] = byteAt[i] + utf8.RuneLen(r)
	}
	var out []normalizer.OffsetsMatch
	prev := 0
	m, err := p.re.FindRunesMatch(runes)
	for ; m != nil && err == nil; m, err = p.re.FindNextMatch(m) {
		if m.Length == 0 {
			continue
		}
		start, end := byteAt[m.Index], byteAt[m.Index+m.Length]
		if start > prev {
			out = append(out, normalizer.OffsetsMatch{Offsets: []int{prev, start}, Match: false})
		}
		out = append(out, normalizer.OffsetsMatch{Offsets: []int{start, end}, Match: true})
		prev = end
	}
	if prev < len(inside) {
		out = append(out, normalizer.OffsetsMatch{Offsets: []int{prev, len(inside)}, Match: false})
	}
	return out
}

// byteLevelPreTokenizer is HF's ByteLevel pre-tokenizer. sugarme's version
// always splits with a truncated GPT-2 pattern, even when `use_regex` is
// false (as in Qwen2 and Llama-3 files, where a Split step comes first).
type byteLevelPreTokenizer struct {
	addPrefixSpace bool
	split          *pretokenizer.Split // nil when use_regex is false
}

func (b *byteLevelPreTokenizer) PreTokenize(pts *sm.PreTokenizedString) (*sm.PreTokenizedString, error) {
	if b.addPrefixSpace || b.split != nil {
		pts = pts.Split(func(_ int, n *normalizer.NormalizedString) []sm.SplitIdx {
			if b.addPrefixSpace && len(n.GetNormalized()) > 0 && n.GetNormalized()[0] != ' ' {
				n = n.Prepend(" ")
			}
			if b.split == nil {
				return []sm.SplitIdx{{Normalized: n}}
			}
			var out []sm.SplitIdx
			for _, s := range n.Split(b.split.Pattern, normalizer.IsolatedBehavior) {
				s := s
				out = append(out, sm.SplitIdx{Normalized: &s})
			}
			return out
		})
	}
	return pts.Normalize(func(n *normalizer.NormalizedString) *normalizer.NormalizedString {
		var changes []normalizer.ChangeMap
		for _, r := range n.GetNormalized() {
			for i, c := range []byte(string(r)) {
				changes = append(changes, normalizer.ChangeMap{RuneVal: pretokenizer.BytesChar[c], Changes: min(i, 1)})
			}
		}
		return n.Transform(changes, 0)
	}), nil
}

// buildPreTokenizer turns the `pre_tokenizer` object of tokenizer.json into a
// sugarme PreTokenizer, building Split and ByteLevel steps (at any depth of a
// Sequence) ourselves and leaving the others to sugarme.
func buildPreTokenizer(cfg map[string]any) (sm.PreTokenizer, error) {
	if cfg == nil {
		return nil, nil
	}
	typ, _ := cfg["type"].(string)
	switch typ {
	case "Sequence":
		list, ok := cfg["pretokenizers"].([]any)
		if !ok {
			return nil, fmt.Errorf("pre_tokenizer Sequence: want a list in \"pretokenizers\"")
		}
		var steps []sm.PreTokenizer
		for i, item := range list {
			sub, ok := item.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("pre_tokenizer Sequence item %d: want an object", i)
			}
			p, err := buildPreTokenizer(sub)
			if err != nil {
				return nil, err
			}
			if p != nil {
				steps = append(steps, p)
			}
		}
		return pretokenizer.NewSequence(steps), nil
	case "Split":
		return buildSplit(cfg)
	case "ByteLevel":
		b := &byteLevelPreTokenizer{}
		b.addPrefixSpace, _ = cfg["add_prefix_space"].(bool)
		useRegex := true
		if v, ok := cfg["use_regex"].(bool); ok {
			useRegex = v
		}
		if useRegex {
			p, err := newRegexPattern(gpt2Pattern)
			if err != nil {
				return nil, err
			}
			b.split = pretokenizer.NewSplit(p, normalizer.IsolatedBehavior, false)
		}
		return b, nil
	default:
		return safeCreate(func() (sm.PreTokenizer, error) { return pretrained.CreatePreTokenizer(cfg) }, "pre_tokenizer "+typ)
	}
}

// buildSplit builds HF's Split pre-tokenizer with a regexp2 pattern. A
// {"String": s} pattern is a literal (sugarme wrongly treats it as a regex).
func buildSplit(cfg map[string]any) (sm.PreTokenizer, error) {
	pat, _ := cfg["pattern"].(map[string]any)
	var expr string
	if s, ok := pat["Regex"].(string); ok {
		expr = s
	} else if s, ok := pat["String"].(string); ok {
		expr = regexp2.Escape(s)
	} else {
		return nil, fmt.Errorf("pre_tokenizer Split: want pattern {\"Regex\": ...} or {\"String\": ...}, got %v", cfg["pattern"])
	}
	p, err := newRegexPattern(expr)
	if err != nil {
		return nil, fmt.Errorf("pre_tokenizer Split: pattern %q: %w", expr, err)
	}
	behaviors := map[string]normalizer.SplitDelimiterBehavior{
		"Removed":            normalizer.RemovedBehavior,
		"Isolated":           normalizer.IsolatedBehavior,
		"MergedWithNext":     normalizer.MergedWithNextBehavior,
		"MergedWithPrevious": normalizer.MergedWithPreviousBehavior,
		"Contiguous":         normalizer.ContiguousBehavior,
	}
	bs, _ := cfg["behavior"].(string)
	b, ok := behaviors[bs]
	if !ok {
		return nil, fmt.Errorf("pre_tokenizer Split: unknown behavior %q", bs)
	}
	invert, _ := cfg["invert"].(bool)
	return pretokenizer.NewSplit(p, b, invert), nil
}

// safeCreate calls a sugarme constructor, turning its panics (it type-asserts
// JSON fields without checks) into errors.
func safeCreate[T any](f func() (T, error), what string) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: unsupported or malformed: %v", what, r)
		}
	}()
	v, err = f()
	if err != nil {
		err = fmt.Errorf("%s: %w", what, err)
	}
	return v, err
}

// asJSON re-encodes a decoded JSON value (used to hand sections to sugarme).
func asJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
