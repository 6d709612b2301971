// Package demosite is a small fixture web site for demos and tests of rlhf
// scrape: Baike-style entries in both markup generations (legacy
// lemmaWgt-* classes and current hashed class names), Zhihu-style question
// pages with and without embedded JSON, one GBK-encoded entry, a
// robots.txt that disallows /private/, and links between them (plus an
// off-site link and a mailto: link that must never be followed). All text
// is written for this project and embedded from site/.
//
// Paths: / (index), /robots.txt, /item/{slug}, /question/{id},
// /private/draft (disallowed by robots.txt).
package demosite

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"html/template"
	"net/http"
	"strings"

	"golang.org/x/text/encoding/simplifiedchinese"
	"gopkg.in/yaml.v3"
)

//go:embed site
var siteFS embed.FS

// Entry is a Baike-style entry; paragraphs are HTML.
type Entry struct {
	Slug    string          `yaml:"slug"`
	Gen     string          `yaml:"gen"`
	Title   string          `yaml:"title"`
	Summary []template.HTML `yaml:"summary"`
	Body    []template.HTML `yaml:"body"`
}

// Answer is one answer of a question page; Content is HTML.
type Answer struct {
	ID      int64         `yaml:"id"`
	Votes   int64         `yaml:"votes"`
	Content template.HTML `yaml:"content"`
}

// Question is a Zhihu-style question page.
type Question struct {
	ID         int64         `yaml:"id"`
	JSON       bool          `yaml:"json"`
	DOMAnswers int           `yaml:"dom_answers"`
	Title      string        `yaml:"title"`
	Detail     template.HTML `yaml:"detail"`
	Answers    []Answer      `yaml:"answers"`
}

// Site is the parsed content of the demo site.
type Site struct {
	Entries   []Entry
	Questions []Question
	pages     map[string]page
}

type page struct {
	body        []byte
	contentType string
}

// GBKSlug is the entry served GBK-encoded, declared only in a <meta> tag.
const GBKSlug = "yuebing"

// Load parses the embedded site.
func Load() (*Site, error) {
	s := &Site{pages: map[string]page{}}
	if err := readYAML("site/entries.yaml", &s.Entries); err != nil {
		return nil, err
	}
	if err := readYAML("site/questions.yaml", &s.Questions); err != nil {
		return nil, err
	}
	tmpl, err := template.New("").Funcs(template.FuncMap{
		"hash": func(s string) string {
			h := fnv.New32a()
			h.Write([]byte(s))
			return fmt.Sprintf("%05x", h.Sum32()&0xfffff)
		},
		"voteLabel": voteLabel,
		"dom":       func(q Question) []Answer { return q.Answers[:min(q.DOMAnswers, len(q.Answers))] },
	}).ParseFS(siteFS, "site/*.tmpl")
	if err != nil {
		return nil, err
	}
	render := func(name string, data any) ([]byte, error) {
		var b bytes.Buffer
		err := tmpl.ExecuteTemplate(&b, name, data)
		return b.Bytes(), err
	}
	const utf8HTML = "text/html; charset=utf-8"
	for _, e := range s.Entries {
		b, err := render(e.Gen+".tmpl", e)
		if err != nil {
			return nil, fmt.Errorf("demosite: entry %s: %w", e.Slug, err)
		}
		s.pages["/item/"+e.Slug] = page{b, utf8HTML}
	}
	for _, q := range s.Questions {
		b, err := render("question.tmpl", q)
		if err != nil {
			return nil, fmt.Errorf("demosite: question %d: %w", q.ID, err)
		}
		// html/template would entity-escape JSON in a non-JS script type.
		b = bytes.Replace(b, []byte(initialDataMarker), []byte(initialData(q)), 1)
		s.pages[fmt.Sprintf("/question/%d", q.ID)] = page{b, utf8HTML}
	}
	b, err := render("index.tmpl", s)
	if err != nil {
		return nil, err
	}
	s.pages["/"] = page{b, utf8HTML}
	for path, file := range map[string]string{"/private/draft": "site/draft.html", "/robots.txt": "site/robots.txt"} {
		raw, err := siteFS.ReadFile(file)
		if err != nil {
			return nil, err
		}
		ct := utf8HTML
		if strings.HasSuffix(file, ".txt") {
			ct = "text/plain; charset=utf-8"
		}
		s.pages[path] = page{raw, ct}
	}
	// The GBK entry: written in UTF-8 here, served as GBK bytes with the
	// charset only in <meta> (the Content-Type header names none).
	raw, err := siteFS.ReadFile("site/yuebing.gbk.html")
	if err != nil {
		return nil, err
	}
	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes(raw)
	if err != nil {
		return nil, fmt.Errorf("demosite: encode GBK page: %w", err)
	}
	s.pages["/item/"+GBKSlug] = page{gbk, "text/html"}
	return s, nil
}

func readYAML(name string, v any) error {
	raw, err := siteFS.ReadFile(name)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("demosite: %s: %w", name, err)
	}
	return nil
}

// voteLabel renders a vote count the way the DOM shows it: "赞同 1.2 万"
// from 10,000 on, else the number.
func voteLabel(n int64) string {
	if n >= 10000 {
		return fmt.Sprintf("赞同 %.1f 万", float64(n)/10000)
	}
	return fmt.Sprintf("赞同 %d", n)
}

const initialDataMarker = "@@INITIAL_DATA@@"

// initialData builds the js-initialData JSON of a question page.
func initialData(q Question) string {
	answers := map[string]any{}
	for _, a := range q.Answers {
		answers[fmt.Sprint(a.ID)] = map[string]any{
			"id": a.ID, "content": string(a.Content), "voteupCount": a.Votes,
			"question": map[string]any{"id": q.ID},
		}
	}
	d := map[string]any{"initialState": map[string]any{"entities": map[string]any{
		"questions": map[string]any{fmt.Sprint(q.ID): map[string]any{"id": q.ID, "title": q.Title, "detail": string(q.Detail)}},
		"answers":   answers,
	}}}
	raw, _ := json.Marshal(d)
	// Keep "</script>" inside strings from closing the element.
	return strings.ReplaceAll(string(raw), "</", `<\/`)
}

// Paths lists every page path the site serves, robots.txt included.
func (s *Site) Paths() []string {
	out := make([]string, 0, len(s.pages))
	for p := range s.pages {
		out = append(out, p)
	}
	return out
}

// ServeHTTP serves the site's pages; anything else is 404.
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := s.pages[strings.TrimSuffix(r.URL.Path, ".html")]
	if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", p.contentType)
	w.Write(p.body)
}

// Handler serves the demo site. It panics only if the embedded content is
// broken, which the package tests rule out.
func Handler() http.Handler {
	s, err := Load()
	if err != nil {
		panic(err)
	}
	return s
}
