package train

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestPPOCriticErrorsNameTheFlagGiven: the critic starts from --reward
// unless --critic is given, so errors about its checkpoint name --reward
// then, and --critic only when it was given.
func TestPPOCriticErrorsNameTheFlagGiven(t *testing.T) {
	policy, rm := ppoTinyModels(t)
	missing := filepath.Join(t.TempDir(), "nope")
	for _, c := range []struct {
		reward, critic string
		want, not      string
	}{
		{reward: policy, want: "Reward " + policy, not: "Critic"}, // no score head
		{reward: missing, want: "Reward", not: "Critic"},
		{reward: rm, critic: policy, want: "Critic " + policy},
		{reward: rm, critic: missing, want: "Critic"},
	} {
		o := ppoTinyOptions(policy, c.reward, filepath.Join(t.TempDir(), "out"))
		o.rewardFn = nil
		o.Critic = c.critic
		_, err := RunPPO(context.Background(), o)
		if err == nil {
			t.Errorf("reward %s critic %q: no error", c.reward, c.critic)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || (c.not != "" && strings.Contains(err.Error(), c.not)) {
			t.Errorf("reward %s critic %q: error %q should name %q (and not %q)", c.reward, c.critic, err, c.want, c.not)
		}
	}
}
