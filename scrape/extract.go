package scrape

import (
	"bytes"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/net/html"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/rlhf-project/rlhf/dataset"
)

// Extractor turns fetched pages into rows with one profile.
type Extractor struct {
	Profile    *Profile
	Categories *Categorizer
	// MinVotes drops answers with fewer known up-votes (qa mode).
	MinVotes int64
	// MaxAnswers keeps at most this many answers per question, the most
	// voted first (qa mode); 0 keeps all.
	MaxAnswers int
	// MinAnswerChars and MaxAnswerChars bound the answer length in
	// characters (the context length in generic mode); 0 means no bound.
	MinAnswerChars, MaxAnswerChars int
}

// decodeBody returns body as UTF-8. Colly has already converted bodies whose
// Content-Type names a charset; others are decoded from a BOM or a <meta>
// charset declaration, and undeclared non-UTF-8 bytes are read as GB18030
// (a superset of GBK, the usual encoding of undeclared Chinese pages).
func decodeBody(body []byte, contentType string) []byte {
	if utf8.Valid(body) {
		return body
	}
	enc, name, certain := charset.DetermineEncoding(body, contentType)
	if !certain && name == "windows-1252" {
		enc = simplifiedchinese.GB18030
	}
	if out, err := enc.NewDecoder().Bytes(body); err == nil {
		return out
	}
	return bytes.ToValidUTF8(body, []byte("\uFFFD"))
}

// Links returns the absolute http(s) links of a page, without fragments,
// in document order and without repeats.
func Links(doc *goquery.Document, base *url.URL) []string {
	seen := map[string]bool{}
	var out []string
	doc.Find("a[href]").Each(func(_ int, s *goquery.Selection) {
		href, _ := s.Attr("href")
		u, err := base.Parse(strings.TrimSpace(href))
		if err != nil {
			return
		}
		u.Fragment = ""
		u.RawFragment = ""
		k := u.String()
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	})
	return out
}

// Extract returns the rows of one page. pageURL is the URL the page was
// queued under (it is part of the row id, so reruns agree).
func (x *Extractor) Extract(doc *goquery.Document, pageURL string, fetchedAt time.Time) []dataset.QA {
	p := x.Profile
	if !p.IsEntry(pageURL) {
		return nil
	}
	var embedded string // read before scripts are stripped
	if p.EmbeddedJSON == "zhihu" {
		embedded = doc.Find("script#js-initialData").First().Text()
	}
	doc.Find(strings.Join(append(append([]string{}, defaultRemove...), p.Remove...), ", ")).Remove()
	var rows []dataset.QA
	switch p.Mode {
	case ModeEntry:
		rows = x.entryRows(doc)
	case ModeQA:
		rows = x.qaRows(doc, pageURL, embedded)
	case ModeGeneric:
		rows = x.genericRows(doc)
	}
	out := rows[:0]
	for _, r := range rows {
		checked := r.Answer
		if p.Mode == ModeGeneric {
			checked = r.Context
		}
		n := runeLen(checked)
		if n == 0 || (x.MinAnswerChars > 0 && n < x.MinAnswerChars) || (x.MaxAnswerChars > 0 && n > x.MaxAnswerChars) {
			continue
		}
		r.Site = p.Name
		r.URL = pageURL
		if r.Lang == "" {
			r.Lang = detectLang(r.Question + "\n" + checked)
		}
		if r.Category == "" {
			r.Category = x.Categories.Categorize(r.Question, r.Title)
		}
		r.FetchedAt = fetchedAt.UTC()
		r.ContentSHA256 = dataset.SHA256Hex(r.Question + "\n" + r.Context + "\n" + r.Answer)
		r.ID = dataset.ContentID(r.URL, r.Question, r.Answer)
		out = append(out, r)
	}
	return out
}

// selectionText is the cleaned text of the matched elements, skipping any
// element nested in an earlier match (so [class*=x] matching both a wrapper
// and its child does not repeat text).
func selectionText(s *goquery.Selection) string {
	var parts []string
	var taken []*html.Node
	s.Each(func(_ int, e *goquery.Selection) {
		n := e.Get(0)
		for _, t := range taken {
			if isAncestor(t, n) {
				return
			}
		}
		taken = append(taken, n)
		if t := cleanText(nodeText(n)); t != "" {
			parts = append(parts, t)
		}
	})
	return strings.Join(parts, "\n")
}

func isAncestor(a, n *html.Node) bool {
	for p := n.Parent; p != nil; p = p.Parent {
		if p == a {
			return true
		}
	}
	return false
}

// firstText tries the selector alternatives in order within root and
// returns the text of the first that yields any; all=false keeps only the
// first matched element.
func firstText(root *goquery.Selection, sels []string, all bool) string {
	for _, sel := range sels {
		s := root.Find(sel)
		if s.Length() == 0 {
			continue
		}
		if !all {
			s = s.First()
		}
		if t := selectionText(s); t != "" {
			return t
		}
	}
	return ""
}

// questionFor fills a question template picked by the title's hash.
func (p *Profile) questionFor(title, lang string) string {
	ts := p.QuestionTemplates[lang]
	if len(ts) == 0 {
		ts = p.QuestionTemplates["en"]
	}
	if len(ts) == 0 {
		return title
	}
	h := dataset.ContentID(title)
	i, _ := strconv.ParseUint(h[:8], 16, 64)
	return strings.ReplaceAll(ts[i%uint64(len(ts))], "{title}", title)
}

func (x *Extractor) entryRows(doc *goquery.Document) []dataset.QA {
	p := x.Profile
	root := doc.Selection
	title := strings.ReplaceAll(firstText(root, p.Title, false), "\n", " ")
	answer := firstText(root, p.Answer, true)
	if title == "" || answer == "" {
		return nil
	}
	context := firstText(root, p.Context, true)
	lang := detectLang(title + "\n" + answer)
	return []dataset.QA{{
		Title: title, Question: p.questionFor(title, lang), Context: context, Answer: answer, Lang: lang,
	}}
}

// answer is one candidate answer of a question page.
type answer struct {
	text  string
	votes *int64
}

func (x *Extractor) qaRows(doc *goquery.Document, pageURL, embedded string) []dataset.QA {
	p := x.Profile
	var question, context string
	var answers []answer
	if p.EmbeddedJSON == "zhihu" {
		question, context, answers = zhihuEmbedded(embedded, pageURL)
	}
	if question == "" || len(answers) == 0 {
		root := doc.Selection
		question = firstText(root, p.Question, false)
		if question == "" {
			question = firstText(root, p.Title, false)
		}
		context = firstText(root, p.Context, false)
		answers = x.domAnswers(doc)
	}
	question = strings.ReplaceAll(question, "\n", " ")
	if question == "" {
		return nil
	}
	kept := answers[:0]
	for _, a := range answers {
		if a.text == "" || (a.votes != nil && *a.votes < x.MinVotes) || (a.votes == nil && x.MinVotes > 0) {
			continue
		}
		kept = append(kept, a)
	}
	sort.SliceStable(kept, func(i, j int) bool { return votesOf(kept[i]) > votesOf(kept[j]) })
	if x.MaxAnswers > 0 && len(kept) > x.MaxAnswers {
		kept = kept[:x.MaxAnswers]
	}
	rows := make([]dataset.QA, 0, len(kept))
	for _, a := range kept {
		rows = append(rows, dataset.QA{Title: question, Question: question, Context: context, Answer: a.text, Votes: a.votes})
	}
	return rows
}

func votesOf(a answer) int64 {
	if a.votes == nil {
		return -1
	}
	return *a.votes
}

func (x *Extractor) domAnswers(doc *goquery.Document) []answer {
	p := x.Profile
	var out []answer
	for _, sel := range p.AnswerItem {
		items := doc.Find(sel)
		if items.Length() == 0 {
			continue
		}
		items.Each(func(_ int, item *goquery.Selection) {
			a := answer{text: firstText(item, p.Answer, false)}
			for _, vs := range p.Votes {
				v := item.Find(vs).First()
				if v.Length() == 0 {
					continue
				}
				label := v.Text()
				if p.VotesAttr != "" {
					if attr, ok := v.Attr(p.VotesAttr); ok {
						label = attr
					}
				}
				if n, ok := ParseVotes(label); ok {
					a.votes = &n
					break
				}
			}
			out = append(out, a)
		})
		break
	}
	return out
}

func (x *Extractor) genericRows(doc *goquery.Document) []dataset.QA {
	title := strings.ReplaceAll(firstText(doc.Selection, x.Profile.Title, false), "\n", " ")
	if title == "" {
		title = strings.TrimSpace(doc.Find("title").First().Text())
	}
	text := mainText(doc)
	if title == "" || text == "" {
		return nil
	}
	return []dataset.QA{{Title: title, Question: title, Context: text}}
}

// mainText is a readability-style guess at a page's main text: the element
// whose direct <p> children hold the most text (ties: the first), or the
// body text when there are no paragraphs. A full readability port would be
// a new dependency for a fallback profile; this covers article-like pages.
func mainText(doc *goquery.Document) string {
	best, bestLen := (*goquery.Selection)(nil), 0
	doc.Find("p").Parent().Each(func(_ int, s *goquery.Selection) {
		n := 0
		s.ChildrenFiltered("p").Each(func(_ int, p *goquery.Selection) {
			t := strings.TrimSpace(p.Text())
			if utf8.RuneCountInString(t) >= 10 {
				n += utf8.RuneCountInString(t)
			}
		})
		if n > bestLen {
			best, bestLen = s, n
		}
	})
	if best == nil {
		return selectionText(doc.Find("body"))
	}
	return selectionText(best.ChildrenFiltered("p, h2, h3, ul, ol, blockquote, pre"))
}
