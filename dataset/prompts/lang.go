package prompts

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rlhf-project/rlhf/dataset"
)

// isCJK reports whether r is a Han character (CJK unified ideographs and
// extensions) or CJK punctuation.
func isCJK(r rune) bool {
	return unicode.Is(unicode.Han, r) || (r >= 0x3000 && r <= 0x303f) || (r >= 0xff00 && r <= 0xffef)
}

func hasCJK(s string) bool {
	for _, r := range s {
		if r >= 0x2e80 && unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

// DetectLang returns "zh" when at least MinZhShare of the letters of s are
// Han characters, "en" when Latin letters are the majority of the letters,
// and "" otherwise (no letters, or another script). Chat markup (role
// markers, template tokens) does not count (dataset.CountScripts). It looks
// at the first 2,000 bytes only.
func DetectLang(s string) string {
	if len(s) > 2000 {
		s = s[:2000]
	}
	n := dataset.CountScripts(s)
	han, latin, other := n.Han, n.Latin, n.Other
	letters := han + latin + other
	switch {
	case letters == 0:
		return ""
	case float64(han) >= MinZhShare*float64(letters):
		return "zh"
	case latin*2 > letters:
		return "en"
	}
	return ""
}

// MinZhShare is the share of Han characters among the letters from which a
// text counts as Chinese (Latin words are common in Chinese text; one Han
// character weighs like a word). Default 0.3.
var MinZhShare = 0.3

// squeezeCJKSpaces removes the spaces that word-segmented Chinese corpora
// (LCCC, some BIO files) put between words, keeping spaces between Latin
// words.
func squeezeCJKSpaces(s string) string {
	if !strings.Contains(s, " ") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	prev := rune(0)
	for i, r := range s {
		if r == ' ' {
			next, _ := utf8.DecodeRuneInString(s[i+1:])
			if isCJK(prev) || isCJK(next) || next == ' ' {
				continue
			}
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

// langName is the name of a language code in the language of the prompt.
func langName(code, in string) string {
	names := map[string][2]string{"zh": {"中文", "Chinese"}, "en": {"英文", "English"}}
	n, ok := names[code]
	if !ok {
		return code
	}
	if in == "zh" {
		return n[0]
	}
	return n[1]
}
