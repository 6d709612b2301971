package scrape

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rlhf-project/rlhf/dataset"
)

// TestKillChildCrawl is the crawl a subprocess of TestResumeAfterKill9 runs
// until it is killed; it does nothing in a normal test run.
func TestKillChildCrawl(t *testing.T) {
	seed, out := os.Getenv("SCRAPE_KILL_SEED"), os.Getenv("SCRAPE_KILL_OUT")
	if seed == "" {
		t.Skip("only runs as the subprocess of TestResumeAfterKill9")
	}
	o := testOptions(t, "baike", seed)
	o.Out = out
	o.FlushRows = 5
	Run(context.Background(), o)
	t.Fatal("child crawl finished before it was killed")
}

// TestResumeAfterKill9 kills a crawling subprocess with SIGKILL part-way,
// reruns the crawl and compares it with an uninterrupted one: same row ids,
// no duplicates, no row lost that was published before the kill.
func TestResumeAfterKill9(t *testing.T) {
	const pages = 300
	var armed atomic.Bool
	var served atomic.Int64
	var child atomic.Pointer[os.Process]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if armed.Load() && served.Add(1) == 150 {
			if p := child.Load(); p != nil {
				p.Kill() // SIGKILL: no cleanup at all
			}
		}
		genSite(pages).ServeHTTP(w, r)
	}))
	defer srv.Close()
	seed := srv.URL + "/item/e0"

	full := testOptions(t, "baike", seed)
	if _, err := Run(context.Background(), full); err != nil {
		t.Fatal(err)
	}
	want := idSet(t, full.Out)

	out := filepath.Join(t.TempDir(), "qa")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChildCrawl$")
	cmd.Env = append(os.Environ(), "SCRAPE_KILL_SEED="+seed, "SCRAPE_KILL_OUT="+out)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	child.Store(cmd.Process)
	armed.Store(true)
	err := cmd.Wait()
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child crawl: %v, want killed", err)
	}
	shards, _ := filepath.Glob(filepath.Join(out, "part-*.parquet"))
	var before []dataset.QA
	if len(shards) > 0 {
		if before, err = dataset.ReadAll[dataset.QA](shards...); err != nil {
			t.Fatal(err)
		}
	}
	if len(before) == 0 || len(before) >= pages {
		t.Fatalf("killed crawl published %d rows, want some but not all", len(before))
	}

	armed.Store(false)
	o := testOptions(t, "baike", seed)
	o.Out = out
	stats, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	got := idSet(t, out)
	for _, r := range before {
		if !got[r.ID] {
			t.Errorf("row %s published before the kill was lost", r.ID)
		}
	}
	if len(got) != len(want) {
		t.Errorf("resumed crawl: %d rows, want %d", len(got), len(want))
	}
	for id := range want {
		if !got[id] {
			t.Errorf("resumed crawl lacks row %s", id)
		}
	}
	t.Logf("killed after %d rows were published; resumed run: %+v", len(before), stats.Counters)
}

// TestRerunAfterLostStateUpdate covers the crash window between publishing
// a shard and recording its pages in the state: with the state gone, every
// page is fetched again but no row is written twice.
func TestRerunAfterLostStateUpdate(t *testing.T) {
	srv := httptest.NewServer(genSite(50))
	defer srv.Close()
	o := testOptions(t, "baike", srv.URL+"/item/e0")
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(o.Out, "_state")); err != nil {
		t.Fatal(err)
	}
	stats, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := idSet(t, o.Out); len(got) != 50 || stats.RowsDuplicate != 50 {
		t.Errorf("after rerun: %d distinct rows, %d duplicates dropped; want 50 and 50", len(got), stats.RowsDuplicate)
	}
}
