package label

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rlhf-project/rlhf/dataset"
)

// newBrowser starts headless Chromium for one test, or skips the test when
// there is none.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath
	if _, err := os.Stat(path); err != nil {
		if path, err = exec.LookPath("chromium"); err != nil {
			t.Skipf("browser test skipped: no chromium (apt-get install -y chromium)")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	return bctx
}

// signIn opens the app at url and signs in; it waits for view.
func signIn(url, name, token, view string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(url + "/"),
		chromedp.WaitVisible("#signin-view"),
		chromedp.SendKeys("#name", name),
		chromedp.SendKeys("#token", token),
		chromedp.Click("#signin"),
		chromedp.WaitVisible(view),
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// storeWith opens a fresh database holding the given responses first, then
// the fixture items p1, p2, p3.
func storeWith(t *testing.T, rows ...dataset.Response) *Store {
	t.Helper()
	s, err := OpenStore(filepath.Join(t.TempDir(), "labels.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	path := filepath.Join(t.TempDir(), "first.jsonl")
	var b strings.Builder
	for _, r := range rows {
		raw, _ := json.Marshal(r)
		b.Write(append(raw, '\n'))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadResponses(context.Background(), path, filepath.Join(fixtures, "responses.jsonl")); err != nil {
		t.Fatal(err)
	}
	return s
}

const answerCard = "#answers .answer:nth-child("

// TestBrowserKeys: shortcuts with Ctrl, Alt or Meta are left to the browser,
// and digits and Enter keep working after a flag checkbox was clicked or
// while the quality menu has the focus.
func TestBrowserKeys(t *testing.T) {
	ctx := newBrowser(t)
	s := newStore(t)
	tokens := addLabelers(t, s, "alice")
	srv := httptest.NewServer(NewServer(s, ServeOptions{}))
	defer srv.Close()
	err := chromedp.Do(ctx, append(signIn(srv.URL, "alice", tokens["alice"], "#task-view"),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("#answers .answer").length === 3`),
		chromedp.KeyEvent("s", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.KeyEvent("1", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.KeyEvent("2", chromedp.KeyModifiers(chromedp.ModifierAlt)),
		chromedp.KeyEvent("u", chromedp.KeyModifiers(chromedp.ModifierMeta)),
		chromedp.Sleep(300*time.Millisecond),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	if subs, _ := s.Submissions(); len(subs) != 0 {
		t.Fatalf("Ctrl+S or Meta+U acted on the item: %+v", subs)
	}
	if n := eval[float64](t, ctx, `document.querySelectorAll("#answers .answer.ranked").length`); n != 0 {
		t.Fatalf("Ctrl+1 or Alt+2 ranked %v answers", n)
	}
	ids := eval[[]string](t, ctx, `[...document.querySelectorAll("#answers .answer")].map(e => e.dataset.id)`)
	poll := chromedp.WithPollingTimeout(3 * time.Second)
	err = chromedp.Do(ctx,
		chromedp.Click(answerCard+`1) .flag[data-flag="harmful"]`),
		chromedp.KeyEvent("1"),
		chromedp.Poll[chromedp.Void](`document.querySelector("`+answerCard+`1)").classList.contains("ranked")`, poll),
		chromedp.Focus(answerCard+`2) .quality`),
		chromedp.KeyEvent("2"),
		chromedp.KeyEvent("3"),
		chromedp.Poll[chromedp.Void](`!document.querySelector("#submit").disabled`, poll),
		chromedp.KeyEvent("\r"),
		chromedp.Poll[chromedp.Void](`document.querySelector("#progress").textContent.startsWith("done 1")`, poll),
	)
	if err != nil {
		t.Fatalf("digits and Enter after a click on a flag and with the quality menu focused: %v", err)
	}
	st, _ := s.State()
	sub := st.Active["alice"]["p1"]
	if sub.Ranks[ids[0]] != 1 || sub.Ranks[ids[1]] != 2 || sub.Ranks[ids[2]] != 3 {
		t.Fatalf("ranks %v, want %v in order", sub.Ranks, ids)
	}
	if r := sub.Ratings[ids[1]]; r.Quality != 0 || strings.Join(sub.Ratings[ids[0]].Flags, ",") != "harmful" {
		t.Fatalf("ratings %+v: want answer 1 flagged harmful and no quality for answer 2 (the digit ranks, it does not pick a quality)", sub.Ratings)
	}
}

// TestBrowserUndoRunsOnce: the Undo button is disabled while its request
// runs, and neither a second click nor the u key sends another undo.
func TestBrowserUndoRunsOnce(t *testing.T) {
	ctx := newBrowser(t)
	s := newStore(t)
	tokens := addLabelers(t, s, "alice")
	srv := httptest.NewServer(NewServer(s, ServeOptions{}))
	defer srv.Close()
	alice := &client{t: t, base: srv.URL, token: tokens["alice"]}
	for i := 0; i < 2; i++ {
		tk := alice.task()
		if code := alice.call("POST", "/api/submit", map[string]any{"group_id": tk.GroupID, "ranks": rankShown(tk)}, nil); code != 200 {
			t.Fatalf("submit: %d", code)
		}
	}
	if err := chromedp.Do(ctx, signIn(srv.URL, "alice", tokens["alice"], "#task-view")...); err != nil {
		t.Fatal(err)
	}
	disabled := eval[bool](t, ctx, `(() => {
		const b = document.querySelector("#undo");
		b.click();
		const d = b.disabled;
		b.click();
		document.dispatchEvent(new KeyboardEvent("keydown", {key: "u", code: "KeyU", bubbles: true}));
		return d;
	})()`)
	if !disabled {
		t.Fatal("the Undo button stays enabled while its request runs")
	}
	err := chromedp.Do(ctx,
		chromedp.Poll[chromedp.Void](`!document.querySelector("#undo").disabled && document.querySelector("#progress").textContent.startsWith("done 1")`, chromedp.WithPollingTimeout(5*time.Second)),
		chromedp.Sleep(300*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	subs, _ := s.Submissions()
	undos := 0
	for _, sub := range subs {
		if sub.Kind == KindUndo {
			undos++
		}
	}
	if undos != 1 {
		t.Fatalf("%d undo rows, want 1 (one click while the first undo runs must not send another)", undos)
	}
}

// zhItem is a Chinese item, group z1.
var zhItem = []dataset.Response{
	{ID: "z1-a", PromptID: "z1", Prompt: "请用一句话介绍长城。", Response: "长城是中国古代修建的军事防御工程。", Model: "tiny"},
	{ID: "z1-b", PromptID: "z1", Prompt: "请用一句话介绍长城。", Response: "长城很长，这是直观的印象。", Model: "tiny"},
}

// TestTaskCarriesTheItemLanguage: the task names the language of its text
// as a BCP 47 tag with the script, so Chinese is not drawn with Japanese
// glyph forms.
func TestTaskCarriesTheItemLanguage(t *testing.T) {
	s := storeWith(t, zhItem...)
	tokens := addLabelers(t, s, "alice")
	srv := httptest.NewServer(NewServer(s, ServeOptions{}))
	defer srv.Close()
	alice := &client{t: t, base: srv.URL, token: tokens["alice"]}
	tk := alice.task()
	if tk.GroupID != "z1" || tk.Lang != "zh-Hans" {
		t.Fatalf("task %s lang %q, want z1 in zh-Hans", tk.GroupID, tk.Lang)
	}
	if code := alice.call("POST", "/api/skip", map[string]string{"group_id": "z1"}, nil); code != 200 {
		t.Fatalf("skip: %d", code)
	}
	if tk := alice.task(); tk.GroupID != "p1" || tk.Lang != "en" {
		t.Fatalf("task %s lang %q, want p1 in en", tk.GroupID, tk.Lang)
	}
}

func TestFavicon(t *testing.T) {
	srv := httptest.NewServer(NewServer(newStore(t), ServeOptions{}))
	defer srv.Close()
	page := get(t, srv.URL+"/")
	if !strings.Contains(page.body, `rel="icon" href="favicon.svg"`) {
		t.Fatal("index.html names no icon")
	}
	for _, path := range []string{"/favicon.svg", "/favicon.ico"} {
		r := get(t, srv.URL+path)
		if r.code != 200 || r.ctype != "image/svg+xml" || !strings.Contains(r.body, "<svg") {
			t.Fatalf("GET %s: %d %s, want 200 and an SVG icon", path, r.code, r.ctype)
		}
	}
}

type reply struct {
	code        int
	ctype, body string
}

func get(t *testing.T, url string) reply {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return reply{res.StatusCode, res.Header.Get("Content-Type"), string(raw)}
}

func TestBrowserMarksTheItemLanguage(t *testing.T) {
	ctx := newBrowser(t)
	s := storeWith(t, zhItem...)
	tokens := addLabelers(t, s, "alice")
	srv := httptest.NewServer(NewServer(s, ServeOptions{}))
	defer srv.Close()
	if err := chromedp.Do(ctx, append(signIn(srv.URL, "alice", tokens["alice"], "#task-view"),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("#answers .answer").length === 2`))...); err != nil {
		t.Fatal(err)
	}
	langs := eval[[]string](t, ctx, `[document.documentElement.lang, document.querySelector("#prompt").lang, ...[...document.querySelectorAll("#answers .answer .text")].map(e => e.lang)]`)
	if strings.Join(langs, " ") != "en zh-Hans zh-Hans zh-Hans" {
		t.Fatalf("lang of the page, prompt and answers: %v, want en (the app's own text) and zh-Hans for the item", langs)
	}
}

// TestBrowserNarrowScreen: at 390 px wide nothing pushes the page wider
// (the dashboard tables scroll inside their own box), and Submit stays on
// screen below long answers.
func TestBrowserNarrowScreen(t *testing.T) {
	ctx := newBrowser(t)
	long := strings.Repeat("This answer goes on and on, sentence after sentence. ", 80)
	s := storeWith(t,
		dataset.Response{ID: "l1-a", PromptID: "l1", Prompt: "Write at length.", Response: "A. " + long},
		dataset.Response{ID: "l1-b", PromptID: "l1", Prompt: "Write at length.", Response: "B. " + long},
		dataset.Response{ID: "l1-c", PromptID: "l1", Prompt: "Write at length.", Response: "C. " + long},
	)
	tokens := addLabelers(t, s, "alice", "bob", "boss")
	mustAppend(t, s, Submission{Labeler: "boss", GroupID: "p1", Kind: KindGold, Ranks: rk("p1", 1, 2, 3)})
	mustAppend(t, s, Submission{Labeler: "alice", GroupID: "p1", Kind: KindRank, Ranks: rk("p1", 1, 2, 3), Seconds: 10})
	mustAppend(t, s, Submission{Labeler: "bob", GroupID: "p1", Kind: KindRank, Ranks: rk("p1", 2, 1, 3), Seconds: 10})
	srv := httptest.NewServer(NewServer(s, ServeOptions{}))
	defer srv.Close()
	err := chromedp.Do(ctx, append([]chromedp.Action[chromedp.Void]{chromedp.EmulateViewport(390, 700)},
		append(signIn(srv.URL, "alice", tokens["alice"], "#task-view"),
			chromedp.Poll[chromedp.Void](`document.querySelectorAll("#answers .answer").length === 3`))...)...)
	if err != nil {
		t.Fatal(err)
	}
	task := eval[[]float64](t, ctx, `(() => {
		const r = document.querySelector("#submit").getBoundingClientRect();
		return [document.documentElement.scrollWidth, document.documentElement.scrollHeight, innerHeight, r.top, r.bottom];
	})()`)
	if task[0] > 390 {
		t.Fatalf("task page is %v px wide at a 390 px screen", task[0])
	}
	if task[1] <= task[2] || task[3] < 0 || task[4] > task[2] {
		t.Fatalf("Submit at %v-%v px of a %v px screen (page %v px high): want it on screen below long answers", task[3], task[4], task[2], task[1])
	}
	err = chromedp.Do(ctx,
		chromedp.Click("#signout"),
		chromedp.WaitVisible("#signin-view"),
		chromedp.SetValue("#name", "boss"),
		chromedp.SendKeys("#token", tokens["boss"]),
		chromedp.Click("#signin"),
		chromedp.WaitVisible("#to-dashboard"),
		chromedp.Click("#to-dashboard"),
		chromedp.WaitVisible("#dashboard-view"),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("#labelers tbody tr").length === 2`),
	)
	if err != nil {
		t.Fatal(err)
	}
	dash := eval[[]float64](t, ctx, `[document.documentElement.scrollWidth, document.querySelector("#labelers").parentElement.scrollWidth > document.querySelector("#labelers").parentElement.clientWidth ? 1 : 0]`)
	if dash[0] > 390 || dash[1] != 1 {
		t.Fatalf("dashboard page %v px wide at a 390 px screen (table scrolls in its box: %v); want 390 and the table scrolling", dash[0], dash[1])
	}
}

// TestBrowserSaysWhenTheServerIsGone: a submit that cannot reach the server
// says so, says nothing was saved and what to do, and keeps the ranking.
func TestBrowserSaysWhenTheServerIsGone(t *testing.T) {
	ctx := newBrowser(t)
	s := newStore(t)
	tokens := addLabelers(t, s, "alice")
	srv := httptest.NewServer(NewServer(s, ServeOptions{}))
	err := chromedp.Do(ctx, append(signIn(srv.URL, "alice", tokens["alice"], "#task-view"),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("#answers .answer").length === 3`),
		chromedp.KeyEvent("1"), chromedp.KeyEvent("2"), chromedp.KeyEvent("3"),
		chromedp.Poll[chromedp.Void](`!document.querySelector("#submit").disabled`),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	err = chromedp.Do(ctx,
		chromedp.Click("#submit"),
		chromedp.WaitVisible("#error"),
		chromedp.Poll[chromedp.Void](`!document.querySelector("#submit").disabled`, chromedp.WithPollingTimeout(5*time.Second)),
	)
	if err != nil {
		t.Fatal(err)
	}
	msg := eval[string](t, ctx, `document.querySelector("#error").textContent`)
	for _, want := range []string{"cannot reach the label server", "nothing was saved", "try again"} {
		if !strings.Contains(strings.ToLower(msg), want) {
			t.Fatalf("error %q does not say %q", msg, want)
		}
	}
	if n := eval[float64](t, ctx, `document.querySelectorAll("#answers .answer.ranked").length`); n != 3 {
		t.Fatalf("%v answers still ranked after the failed submit, want 3", n)
	}
}
