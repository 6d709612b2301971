package scrape

import (
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/text/unicode/norm"
)

// citationRE matches citation marks such as [1], [2-3] or [4,5] (ASCII or
// full-width brackets).
var citationRE = regexp.MustCompile(`[\[［]\s*\d+(?:\s*[-–,，]\s*\d+)*\s*[\]］]`)

// blockTags are the elements whose text starts on a new line.
var blockTags = map[string]bool{
	"p": true, "div": true, "br": true, "li": true, "ul": true, "ol": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
	"tr": true, "table": true, "section": true, "article": true, "blockquote": true,
	"dd": true, "dt": true, "dl": true, "pre": true, "figure": true, "figcaption": true,
}

// skipTags are elements whose content is never text.
var skipTags = map[string]bool{"script": true, "style": true, "noscript": true, "template": true, "iframe": true}

// nodeText returns the visible text of n with block elements on their own
// lines (goquery's Text would glue paragraphs together).
func nodeText(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.TextNode:
			b.WriteString(n.Data)
			return
		case html.ElementNode:
			if skipTags[n.Data] {
				return
			}
			if blockTags[n.Data] {
				b.WriteByte('\n')
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
		if n.Type == html.ElementNode && blockTags[n.Data] {
			b.WriteByte('\n')
		}
	}
	walk(n)
	return b.String()
}

// cleanText normalises text: Unicode NFC, citation marks removed, runs of
// whitespace (including no-break spaces) collapsed within a line, empty lines
// dropped, lines joined by "\n".
func cleanText(s string) string {
	s = norm.NFC.String(s)
	s = citationRE.ReplaceAllString(s, "")
	lines := strings.Split(s, "\n")
	out := lines[:0]
	for _, l := range lines {
		l = strings.Join(strings.FieldsFunc(l, unicode.IsSpace), " ")
		if l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// htmlFragmentText parses an HTML fragment (as found in embedded JSON) and
// returns its cleaned text.
func htmlFragmentText(fragment string) string {
	nodes, err := html.ParseFragment(strings.NewReader(fragment), &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div})
	if err != nil {
		return cleanText(fragment)
	}
	var b strings.Builder
	for _, n := range nodes {
		b.WriteString(nodeText(n))
	}
	return cleanText(b.String())
}

// detectLang tells Chinese ("zh") from English ("en") by script: text is
// Chinese when Han characters are at least a third as many as Latin letters
// (a Han character carries about as much as a short English word). Text with
// neither is "und". Only zh and en are needed by the pipeline; a statistical
// detector would add a dependency for no gain on these two scripts.
func detectLang(s string) string {
	han, latin := 0, 0
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Han, r):
			han++
		case r < 0x250 && unicode.IsLetter(r):
			latin++
		}
	}
	switch {
	case han > 0 && han*3 >= latin:
		return "zh"
	case latin > 0:
		return "en"
	}
	return "und"
}

// runeLen is the length of s in characters.
func runeLen(s string) int { return len([]rune(s)) }
