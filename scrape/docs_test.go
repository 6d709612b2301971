package scrape

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocsProfileExamples keeps the YAML profiles in docs/scrape.md valid.
func TestDocsProfileExamples(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "docs", "scrape.md"))
	if err != nil {
		t.Skip("docs/scrape.md not found")
	}
	parts := strings.Split(string(raw), "```yaml\n")
	n := 0
	for _, p := range parts[1:] {
		block := p[:strings.Index(p, "```")]
		if !strings.Contains(block, "mode:") {
			continue // the categories example
		}
		n++
		if _, err := ParseProfile("docs/scrape.md example", []byte(block)); err != nil {
			t.Errorf("profile example %d: %v", n, err)
		}
	}
	if n < 2 {
		t.Errorf("found %d profile examples in docs/scrape.md, want 2", n)
	}
}
