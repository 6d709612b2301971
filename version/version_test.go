package version

import "testing"

func TestLinkedVersionWins(t *testing.T) {
	old, oldC := Version, Commit
	defer func() { Version, Commit = old, oldC }()
	Version, Commit = "v9.9.9", "abc1234"
	if got := Producer(); got != "rlhf v9.9.9 (abc1234)" {
		t.Fatalf("Producer() = %q", got)
	}
	Version, Commit = "", ""
	if v, c := Get(); v == "" || c == "" {
		t.Fatalf("unstamped build: %q %q", v, c)
	}
}
