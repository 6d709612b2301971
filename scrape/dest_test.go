package scrape

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/scrape/demosite"
)

// TestScrapeOutputIsItsOwnOnly: a crawl continues its own folder, also an
// interrupted one without a manifest (with its state and cache inside),
// and refuses a folder that holds anything else, or a dataset of another
// kind, without writing its state there.
func TestScrapeOutputIsItsOwnOnly(t *testing.T) {
	srv := httptest.NewServer(demosite.Handler())
	t.Cleanup(srv.Close)
	o := testOptions(t, "baike", srv.URL+"/")
	o.MaxPages = 3
	o.CacheDir = filepath.Join(o.Out, "cache")
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	// A crawl killed before it published its manifest leaves shards, state
	// and cache; the rerun continues it.
	for _, name := range []string{"cache", "_state", "part-00000.parquet"} {
		if _, err := os.Stat(filepath.Join(o.Out, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(o.Out, dataset.ManifestName)); err != nil {
		t.Fatal(err)
	}
	o.MaxPages = 5
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatalf("an interrupted crawl's folder was refused: %v", err)
	}
	if !dataset.IsKind(o.Out, dataset.KindQA) {
		t.Fatal("the rerun did not publish the dataset")
	}

	// Something else in a folder without a manifest: refused, untouched.
	other := filepath.Join(t.TempDir(), "other")
	os.MkdirAll(other, 0o755)
	os.WriteFile(filepath.Join(other, "part-00000.parquet"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o644)
	sft := filepath.Join(t.TempDir(), "sft")
	w, err := dataset.Create[dataset.SFT](sft, dataset.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(dataset.SFT{Prompt: "p", Response: "r"})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{other, sft} {
		before, _ := os.ReadDir(out)
		o := testOptions(t, "baike", srv.URL+"/")
		o.Out = out
		if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "not a qa dataset") {
			t.Errorf("--out %s: got %v, want a refusal", out, err)
		}
		if after, _ := os.ReadDir(out); len(after) != len(before) {
			t.Errorf("--out %s: the refused crawl wrote into it: %v", out, after)
		}
	}
}
