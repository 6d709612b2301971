package scrape

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/andybalholm/cascadia"
	"gopkg.in/yaml.v3"

	"github.com/rlhf-project/rlhf/option"
)

// Profile modes: how a page becomes rows.
const (
	// ModeEntry: one row per encyclopedia entry; the question comes from
	// the title through QuestionTemplates, the answer is the summary and the
	// context the body paragraphs.
	ModeEntry = "entry"
	// ModeQA: one row per answer of a question page.
	ModeQA = "qa"
	// ModeGeneric: one row per page with the title as question and the main
	// text (readability-style heuristic) as context.
	ModeGeneric = "generic"
)

// Profile describes a site: which pages yield rows, which links are
// followed and where each field is in the markup. Every selector field is a
// list of CSS selector alternatives; the first alternative that matches
// non-empty text wins. See docs/scrape.md for the YAML form.
type Profile struct {
	// Name is recorded in the rows' site column.
	Name string `yaml:"name"`
	// Mode is entry, qa or generic (see the Mode constants). Default entry.
	Mode string `yaml:"mode"`
	// EntryURLs are regular expressions; a page whose URL matches one
	// yields rows. Empty: every page is tried.
	EntryURLs []string `yaml:"entry_urls"`
	// Follow are regular expressions; a same-site link is queued when it
	// matches one (or an entry pattern). Empty: every same-site link.
	Follow []string `yaml:"follow"`
	// Skip are regular expressions of links never queued (they win over
	// Follow).
	Skip []string `yaml:"skip"`
	// Remove are selectors of elements dropped before extraction (scripts,
	// styles, navigation and citation marks are always dropped).
	Remove []string `yaml:"remove"`

	// Title selects the page title (entry and generic modes; in qa mode it
	// is the fallback for Question).
	Title []string `yaml:"title"`
	// Question selects the question text (qa mode).
	Question []string `yaml:"question"`
	// Context selects the context: body paragraphs (entry) or question
	// detail (qa). All matches of the winning alternative are joined by
	// new lines.
	Context []string `yaml:"context"`
	// Answer selects the answer: the summary (entry; all matches joined) or,
	// inside each AnswerItem, the answer text (qa).
	Answer []string `yaml:"answer"`
	// AnswerItem selects one element per answer (qa mode).
	AnswerItem []string `yaml:"answer_item"`
	// Votes selects, inside an answer item, the element carrying the
	// up-vote count, read from VotesAttr when set, else from its text
	// ("赞同 1.2 万" = 12000, "1.5K" = 1500).
	Votes []string `yaml:"votes"`
	// VotesAttr is the attribute holding the vote label, e.g. aria-label.
	VotesAttr string `yaml:"votes_attr"`
	// EmbeddedJSON names a parser for data embedded in the page that is
	// preferred over the DOM when present: "zhihu" (script#js-initialData)
	// or empty.
	EmbeddedJSON string `yaml:"embedded_json"`
	// QuestionTemplates are per-language templates for entry mode, keyed
	// by "zh" and "en"; "{title}" is replaced by the title. The template
	// used for an entry is picked from its title's hash so reruns agree.
	QuestionTemplates map[string][]string `yaml:"question_templates"`

	entryRE, followRE, skipRE []*regexp.Regexp
}

// defaultRemove is always stripped before extraction.
var defaultRemove = []string{
	"script", "style", "noscript", "template", "iframe", "nav", "header", "footer",
	"sup", ".sup-anchor", "[class*=supWrap]", "[class*=lemmaReference]", ".navbar", "[role=navigation]",
}

var defaultTemplates = map[string][]string{
	"zh": {"什么是{title}？", "{title}是什么？", "请介绍一下{title}。"},
	"en": {"What is {title}?", "Tell me about {title}.", "What do you know about {title}?"},
}

// builtinProfiles are the profiles selectable by name with --site.
var builtinProfiles = map[string]Profile{
	"baike": {
		Name:      "baike",
		Mode:      ModeEntry,
		EntryURLs: []string{`/item/`},
		Skip:      []string{`/edit/`, `/signin`, `/login`, `/search`},
		Title: []string{
			"dd.lemmaWgt-lemmaTitle-title > h1",
			"h1.J-lemma-title",
			"[class*=lemmaTitle] h1",
			"[class*=lemmaTitle]",
		},
		Answer: []string{
			"div.lemma-summary .para",
			".J-summary",
			"[class*=lemmaSummary]",
		},
		Context: []string{
			".main-content > .para",
			".J-lemma-content [data-tag=paragraph]",
			".J-lemma-content [class*=para]",
			".J-lemma-content p",
		},
	},
	"zhihu": {
		Name:         "zhihu",
		Mode:         ModeQA,
		EntryURLs:    []string{`/question/\d+`},
		Skip:         []string{`/signin`, `/signup`, `/login`},
		Question:     []string{"h1.QuestionHeader-title"},
		Title:        []string{"title"},
		Context:      []string{".QuestionHeader-detail .RichText"},
		AnswerItem:   []string{".List-item", ".AnswerItem"},
		Answer:       []string{".RichContent-inner .RichText", ".RichText"},
		Votes:        []string{"button.VoteButton--up", "[class*=VoteButton]"},
		VotesAttr:    "aria-label",
		EmbeddedJSON: "zhihu",
	},
	"generic": {
		Name:  "generic",
		Mode:  ModeGeneric,
		Title: []string{"h1", "title"},
	},
}

// BuiltinProfiles lists the names of the built-in profiles.
func BuiltinProfiles() []string { return []string{"baike", "zhihu", "generic"} }

// LoadProfile returns the built-in profile of that name, or reads a YAML
// profile when site names a file (it contains a path separator or ends in
// .yaml/.yml).
func LoadProfile(site string) (*Profile, error) {
	if p, ok := builtinProfiles[site]; ok {
		if err := p.compile(); err != nil {
			return nil, fmt.Errorf("built-in profile %s: %w", site, err)
		}
		return &p, nil
	}
	if !strings.ContainsAny(site, `/\`) && !strings.HasSuffix(site, ".yaml") && !strings.HasSuffix(site, ".yml") {
		return nil, option.Errorf("{Site} %q: want %s or a YAML profile file", site, strings.Join(BuiltinProfiles(), ", "))
	}
	raw, err := os.ReadFile(site)
	if err != nil {
		return nil, option.Errorf("{Site}: %w", err)
	}
	return ParseProfile(site, raw)
}

// ParseProfile reads a YAML profile; name is used in error messages and as
// the default profile name. Unknown keys are an error.
func ParseProfile(name string, raw []byte) (*Profile, error) {
	var p Profile
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("site profile %s: %w", name, err)
	}
	if p.Name == "" {
		p.Name = strings.TrimSuffix(strings.TrimSuffix(baseName(name), ".yaml"), ".yml")
	}
	if err := p.compile(); err != nil {
		return nil, fmt.Errorf("site profile %s: %w", name, err)
	}
	return &p, nil
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// compile checks the profile and compiles its patterns.
func (p *Profile) compile() error {
	if p.Mode == "" {
		p.Mode = ModeEntry
	}
	switch p.Mode {
	case ModeEntry:
		if len(p.Title) == 0 || len(p.Answer) == 0 {
			return fmt.Errorf("mode entry needs title and answer selectors")
		}
	case ModeQA:
		if len(p.AnswerItem) == 0 && p.EmbeddedJSON == "" {
			return fmt.Errorf("mode qa needs answer_item selectors or embedded_json")
		}
		if len(p.Question) == 0 && len(p.Title) == 0 {
			return fmt.Errorf("mode qa needs question or title selectors")
		}
	case ModeGeneric:
	default:
		return fmt.Errorf("mode %q: want entry, qa or generic", p.Mode)
	}
	switch p.EmbeddedJSON {
	case "", "zhihu":
	default:
		return fmt.Errorf("embedded_json %q: want zhihu or nothing", p.EmbeddedJSON)
	}
	for field, sels := range map[string][]string{
		"title": p.Title, "question": p.Question, "context": p.Context, "answer": p.Answer,
		"answer_item": p.AnswerItem, "votes": p.Votes, "remove": p.Remove,
	} {
		for _, s := range sels {
			if _, err := cascadia.ParseGroup(s); err != nil {
				return fmt.Errorf("%s selector %q: %w", field, s, err)
			}
		}
	}
	var err error
	if p.entryRE, err = compileAll("entry_urls", p.EntryURLs); err != nil {
		return err
	}
	if p.followRE, err = compileAll("follow", p.Follow); err != nil {
		return err
	}
	if p.skipRE, err = compileAll("skip", p.Skip); err != nil {
		return err
	}
	if p.QuestionTemplates == nil {
		p.QuestionTemplates = defaultTemplates
	}
	for lang, ts := range p.QuestionTemplates {
		for _, t := range ts {
			if !strings.Contains(t, "{title}") {
				return fmt.Errorf("question_templates.%s %q: lacks {title}", lang, t)
			}
		}
	}
	return nil
}

func compileAll(field string, pats []string) ([]*regexp.Regexp, error) {
	var out []*regexp.Regexp
	for _, s := range pats {
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, fmt.Errorf("%s pattern %q: %w", field, s, err)
		}
		out = append(out, re)
	}
	return out, nil
}

func matchAny(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// IsEntry reports whether a page URL yields rows.
func (p *Profile) IsEntry(u string) bool {
	return len(p.entryRE) == 0 || matchAny(p.entryRE, u)
}

// ShouldFollow reports whether a same-site link is queued.
func (p *Profile) ShouldFollow(u string) bool {
	if matchAny(p.skipRE, u) {
		return false
	}
	return len(p.followRE) == 0 || matchAny(p.followRE, u) || matchAny(p.entryRE, u)
}
