package demo

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/infer"
)

// TestSummaryWithoutGold: an eval without a gold judge says so in the
// table; model output with line breaks and invalid bytes stays one line.
func TestSummaryWithoutGold(t *testing.T) {
	out := t.TempDir()
	os.MkdirAll(filepath.Join(out, "eval"), 0o755)
	res := infer.EvalResult{All: infer.EvalStats{N: 4, RewardPolicy: 1.5, RewardBaseline: 0.25, WinRate: 0.75, WinLow: 0.3, WinHigh: 0.95, KL: 2, LenPolicy: 10, LenBaseline: 12}}
	b, _ := json.Marshal(res)
	os.WriteFile(filepath.Join(out, "eval", infer.EvalFile), b, 0o644)
	var w bytes.Buffer
	printSummary(&w, out)
	for _, want := range []string{"on 4 held-out prompts", "no gold judge", "0.750 [0.300, 0.950] n=4", "0.250", "1.500", "12.0", "10.0"} {
		if !strings.Contains(w.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, w.String())
		}
	}
	if got := oneLine("a\nb\x00c\xffd"); got != "a b?c?d" {
		t.Errorf("oneLine: %q", got)
	}
	if got := wrap("中文abcde", 4); len(got) != 3 || got[0] != "中文" || got[2] != "e" || cells(got[0]) != 4 {
		t.Errorf("wrap by cells: %q", got)
	}
}
