package scrape

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/rlhf-project/rlhf/scrape/demosite"
)

func TestParseVotes(t *testing.T) {
	for label, want := range map[string]int64{
		"赞同 1.2 万": 12000, "赞同 345": 345, "赞同 2.1 万": 21000, "1,024 votes": 1024,
		"Upvote 1.5K": 1500, "赞同 3 亿": 300000000,
	} {
		if got, ok := ParseVotes(label); !ok || got != want {
			t.Errorf("ParseVotes(%q) = %d, %v; want %d", label, got, ok, want)
		}
	}
	if _, ok := ParseVotes("赞同"); ok {
		t.Error(`ParseVotes("赞同") should find no number`)
	}
}

func TestCleanTextAndLang(t *testing.T) {
	got := cleanText("  长城\u00a0是  古代工程。[1]\n\n\t第二行 [2-3] 结束［4］ ")
	if want := "长城 是 古代工程。\n第二行 结束"; got != want {
		t.Errorf("cleanText = %q, want %q", got, want)
	}
	for s, want := range map[string]string{
		"Go语言是一种编程语言": "zh", "The dish 饺子 is popular in the north of China": "en",
		"What is tea?": "en", "12345": "und", "学习围棋有哪些好的入门方法？": "zh",
	} {
		if got := detectLang(s); got != want {
			t.Errorf("detectLang(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestDecodeBodyGBK(t *testing.T) {
	src := `<html><head><meta charset="gbk"></head><body>月饼是中秋节的传统糕点</body></html>`
	gbk, _ := simplifiedchinese.GBK.NewEncoder().String(src)
	if got := string(decodeBody([]byte(gbk), "text/html")); got != src {
		t.Errorf("meta-declared GBK decoded to %q", got)
	}
	// Undeclared non-UTF-8 bytes are read as GB18030.
	bare, _ := simplifiedchinese.GBK.NewEncoder().String("<p>中秋节</p>")
	if got := string(decodeBody([]byte(bare), "")); got != "<p>中秋节</p>" {
		t.Errorf("undeclared GBK decoded to %q", got)
	}
}

func TestParseProfileYAML(t *testing.T) {
	good := `
name: wiki
mode: entry
entry_urls: ['/wiki/[^:]+$']
skip: ['/wiki/Special:']
title: ['h1#firstHeading']
answer: ['#mw-content-text p:first-of-type']
context: ['#mw-content-text p']
question_templates:
  en: ["What is {title}?"]
`
	p, err := ParseProfile("wiki.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "wiki" || !p.IsEntry("https://x/wiki/Tea") || p.IsEntry("https://x/wiki/Special:Random") || p.ShouldFollow("https://x/wiki/Special:Random") {
		t.Errorf("profile patterns wrong: %+v", p)
	}
	for name, bad := range map[string]string{
		"unknown key":  "titel: [h1]\nanswer: [p]\n",
		"bad selector": "title: ['h1[']\nanswer: [p]\n",
		"bad regex":    "title: [h1]\nanswer: [p]\nfollow: ['(']\n",
		"bad mode":     "mode: wiki\n",
		"no answer":    "title: [h1]\n",
		"template":     "title: [h1]\nanswer: [p]\nquestion_templates: {en: ['What?']}\n",
	} {
		if _, err := ParseProfile("bad.yaml", []byte(bad)); err == nil || !strings.Contains(err.Error(), "bad.yaml") {
			t.Errorf("%s: error %v, want one naming the file", name, err)
		}
	}
	if _, err := LoadProfile("wikipedia"); err == nil {
		t.Error("unknown built-in profile accepted")
	}
}

func TestCategories(t *testing.T) {
	c, err := LoadCategorizer("")
	if err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]string{
		"学习围棋有哪些好的入门方法？": "brainstorming", "What are some ways to keep tea fresh?": "brainstorming",
		"什么是长城？": "open_qa", "What is Go?": "open_qa", "Give me IDEAS for a party": "brainstorming",
	} {
		if got := c.Categorize(q, ""); got != want {
			t.Errorf("Categorize(%q) = %s, want %s", q, got, want)
		}
	}
	path := filepath.Join(t.TempDir(), "cats.yaml")
	os.WriteFile(path, []byte("rules:\n  - category: poetry\n    keywords: [诗]\n"), 0o644)
	if _, err := LoadCategorizer(path); err == nil || !strings.Contains(err.Error(), "poetry") {
		t.Errorf("unknown category accepted: %v", err)
	}
}

func TestGenericProfile(t *testing.T) {
	doc, _ := goquery.NewDocumentFromReader(strings.NewReader(`<html><head><title>Tea storage</title></head><body>
<nav><p>Home | About | Contact us today</p></nav>
<div class="sidebar"><p>Short.</p></div>
<article><h1>How to store tea</h1><p>Keep tea in an airtight container away from light.</p><p>Green tea keeps best in the fridge, sealed.</p></article>
</body></html>`))
	p, _ := LoadProfile("generic")
	cats, _ := LoadCategorizer("")
	rows := (&Extractor{Profile: p, Categories: cats}).Extract(doc, "http://x/tea", timeZero)
	if len(rows) != 1 || rows[0].Question != "How to store tea" || rows[0].Answer != "" ||
		rows[0].Context != "Keep tea in an airtight container away from light.\nGreen tea keeps best in the fridge, sealed." {
		t.Errorf("generic rows: %+v", rows)
	}
}

func TestOfflineReparseFromCache(t *testing.T) {
	srv := httptest.NewServer(demosite.Handler())
	o := testOptions(t, "baike", srv.URL+"/")
	o.CacheDir = filepath.Join(t.TempDir(), "cache")
	online, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	srv.Close() // no network from here on

	off := testOptions(t, "zhihu", srv.URL+"/") // a changed profile
	off.CacheDir, off.Offline = o.CacheDir, true
	stats, err := Run(context.Background(), off)
	if err != nil {
		t.Fatal(err)
	}
	if stats.RowsWritten != 7 || online.RowsWritten == 0 {
		t.Errorf("offline zhihu re-parse wrote %d rows, want 7 (stats %+v)", stats.RowsWritten, stats.Counters)
	}
}

var timeZero = time.Time{}
