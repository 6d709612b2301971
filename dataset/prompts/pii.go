package prompts

import (
	"regexp"
	"strings"

	"github.com/rlhf-project/rlhf/dataset"
)

// PII scrubbing replaces e-mail addresses, phone numbers and ID-card-like
// numbers with placeholders before anything is written. The patterns are
// deliberately broad (a false positive costs a few characters of text, a
// false negative leaks a person's data):
//
//   - e-mail: local@domain.tld → [EMAIL]
//   - ID card: 18-character PRC resident ID (17 digits and a digit or X) and
//     15-digit old IDs; 13-19 digit card-like numbers (bank cards) → [ID]
//   - phone: mainland mobile numbers (1[3-9] and 9 digits, optional +86),
//     landlines like 010-12345678, and international/North-American forms
//     such as +1 (555) 123-4567 or 555-123-4567 → [PHONE]
var (
	reEmail = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`)
	reID    = regexp.MustCompile(`(?:^|[^0-9])([1-9]\d{16}[\dXx]|\d{13,19})(?:[^0-9]|$)`)
	rePhone = regexp.MustCompile(`(?:\+?86[\- ]?)?1[3-9]\d[\- ]?\d{4}[\- ]?\d{4}|0\d{2,3}-\d{7,8}|(?:\+\d{1,3}[\- ]?)?\(?\d{3}\)?[\- .]\d{3}[\- .]\d{4}`)
)

// PII kinds, the keys of the scrub counts in the report.
const (
	PIIEmail = "email"
	PIIPhone = "phone"
	PIIID    = "id_number"
)

// scrubPII returns s with PII replaced and adds the number of replacements
// per kind to counts (which may be nil).
func scrubPII(s string, counts map[string]int64) string {
	if strings.IndexByte(s, '@') >= 0 {
		s = replaceCount(reEmail, s, "[EMAIL]", PIIEmail, counts)
	}
	if !hasDigitRun(s, 7) {
		return s
	}
	s = replaceIDs(s, counts)
	return replaceCount(rePhone, s, "[PHONE]", PIIPhone, counts)
}

func replaceCount(re *regexp.Regexp, s, with, kind string, counts map[string]int64) string {
	n := 0
	out := re.ReplaceAllStringFunc(s, func(string) string { n++; return with })
	if n > 0 && counts != nil {
		counts[kind] += int64(n)
	}
	return out
}

// replaceIDs replaces the number group of reID, keeping the delimiters
// around it.
func replaceIDs(s string, counts map[string]int64) string {
	for {
		m := reID.FindStringSubmatchIndex(s)
		if m == nil {
			return s
		}
		s = s[:m[2]] + "[ID]" + s[m[3]:]
		if counts != nil {
			counts[PIIID]++
		}
	}
}

// hasDigitRun reports whether s holds n digits with at most two separators
// (space, dash, dot, parenthesis) between consecutive digits.
func hasDigitRun(s string, n int) bool {
	run, gap := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			run++
			gap = 0
			if run >= n {
				return true
			}
		case (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') && gap < 2 && run > 0:
			gap++
		default:
			run, gap = 0, 0
		}
	}
	return false
}

// scrubHistory scrubs the texts of a history column (a JSON list of
// messages), as the prompt and response are.
func scrubHistory(h string) string {
	msgs, err := dataset.DecodeHistory(h)
	if err != nil || len(msgs) == 0 {
		return h
	}
	for i := range msgs {
		msgs[i].Content = scrubPII(msgs[i].Content, nil)
	}
	return dataset.EncodeHistory(msgs)
}
