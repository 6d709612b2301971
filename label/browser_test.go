package label

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rlhf-project/rlhf/dataset"
)

// chromiumPath is Debian's chromium package binary.
const chromiumPath = "/usr/bin/chromium"

// TestBrowserRanksOneGroup drives the web app in headless Chromium: sign
// in, rank one group (click, keyboard and a tie), rate, submit, and check the
// exported comparisons. It also checks that markup in an answer is shown as
// text and never runs.
func TestBrowserRanksOneGroup(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser test skipped: %s not found (apt-get install -y chromium)", chromiumPath)
	}
	s := newStore(t)
	tokens := addLabelers(t, s, "alice", "boss")
	srv := httptest.NewServer(NewServer(s, ServeOptions{}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath),
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
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	card := func(i int) string { return "#answers .answer:nth-child(" + string(rune('1'+i)) + ")" }
	err := chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible("#signin-view"),
		chromedp.SendKeys("#name", "alice"),
		chromedp.SendKeys("#token", tokens["alice"]),
		chromedp.Click("#signin"),
		chromedp.WaitVisible("#task-view"),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("#answers .answer").length === 3`),
	)
	if err != nil {
		t.Fatal(err)
	}
	// p1 holds an answer with <b> and <script>: shown as text, never run.
	markup, err := chromedp.Run(bctx, chromedp.Evaluate[[]any](`[document.querySelectorAll("#answers b, #answers script").length, typeof window.pwned, document.querySelector("#answers").textContent.includes("<script>window.pwned=1</script>")]`))
	if err != nil {
		t.Fatal(err)
	}
	if markup[0] != float64(0) || markup[1] != "undefined" || markup[2] != true {
		t.Fatalf("answer markup was not escaped: %v", markup)
	}
	ids, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#answers .answer")].map(e => e.dataset.id)`))
	if err != nil {
		t.Fatal(err)
	}
	// Answer 2 best (click), answer 3 next (keyboard), answer 1 tied with 3.
	err = chromedp.Do(bctx,
		chromedp.Click(card(1)+" .pick"),
		chromedp.KeyEvent("3"),
		chromedp.Click(card(0)+" .tie"),
		chromedp.SetValue(card(1)+" .quality", "7"),
		chromedp.Click(card(0)+` .flag[data-flag="made_up_facts"]`),
		chromedp.Poll[chromedp.Void](`!document.querySelector("#submit").disabled`),
		chromedp.Click("#submit"),
		chromedp.Poll[chromedp.Void](`document.querySelector("#progress").textContent.startsWith("done 1")`),
	)
	if err != nil {
		t.Fatal(err)
	}
	badges, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector("#prompt").textContent`))
	if err != nil || badges == "" {
		t.Fatalf("next task prompt %q, %v", badges, err)
	}

	// The admin's dashboard lists alice's progress.
	err = chromedp.Do(bctx,
		chromedp.Click("#signout"),
		chromedp.WaitVisible("#signin-view"),
		chromedp.SetValue("#name", "boss"),
		chromedp.SendKeys("#token", tokens["boss"]),
		chromedp.Click("#signin"),
		chromedp.WaitVisible("#to-dashboard"),
		chromedp.Click("#to-dashboard"),
		chromedp.WaitVisible("#dashboard-view"),
	)
	if err != nil {
		t.Fatal(err)
	}
	row, err := chromedp.Run(bctx, chromedp.Text("#labelers tbody tr:first-child"))
	if err != nil || !strings.HasPrefix(row, "alice\t1\t0") {
		t.Fatalf("dashboard row %q, %v", row, err)
	}

	out := filepath.Join(t.TempDir(), "cmp")
	if _, err := Export(context.Background(), ExportOptions{DB: s.Path(), Out: out}); err != nil {
		t.Fatal(err)
	}
	rows, err := dataset.ReadAll[dataset.Comparison](out)
	if err != nil {
		t.Fatal(err)
	}
	it, _ := s.Item("p1")
	text := map[string]string{}
	for _, a := range it.Answers {
		text[a.ID] = a.Text
	}
	// Ranks: answer 2 → 1, answers 3 and 1 → 2 (tie, dropped): two pairs.
	if len(rows) != 2 {
		t.Fatalf("exported %d rows, want 2: %+v", len(rows), rows)
	}
	for _, r := range rows {
		if r.Chosen != text[ids[1]] || r.ChosenRank != 1 || r.RejectedRank != 2 || r.Source != "alice" || r.GroupID != ExportGroupID("p1", "alice") {
			t.Fatalf("row %+v", r)
		}
		if r.Rejected != text[ids[0]] && r.Rejected != text[ids[2]] {
			t.Fatalf("rejected %q", r.Rejected)
		}
	}
	st, _ := s.State()
	sub := st.Active["alice"]["p1"]
	if sub.Ratings[ids[1]].Quality != 7 || strings.Join(sub.Ratings[ids[0]].Flags, ",") != "made_up_facts" || strings.Join(sub.Shown, ",") != strings.Join(ids, ",") {
		t.Fatalf("stored submission %+v", sub)
	}
}
