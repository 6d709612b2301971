package train

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rlhf-project/rlhf/option"
)

// TestPPOCriticErrorsNameTheFlagGiven: the critic starts from Reward
// unless Critic is given, so errors about its checkpoint name the option
// Reward then (the command's --reward), and Critic only when it was given.
func TestPPOCriticErrorsNameTheFlagGiven(t *testing.T) {
	policy, rm := ppoTinyModels(t)
	missing := filepath.Join(t.TempDir(), "nope")
	for _, c := range []struct {
		reward, critic string
		want, not      string // option fields the error names, and must not
		text           string // and the text of the error
	}{
		{reward: policy, want: "Reward", not: "Critic", text: "Reward " + policy}, // no score head
		{reward: missing, want: "Reward", not: "Critic", text: "Reward"},
		{reward: rm, critic: policy, want: "Critic", text: "Critic " + policy},
		{reward: rm, critic: missing, want: "Critic", text: "Critic"},
	} {
		o := ppoTinyOptions(policy, c.reward, filepath.Join(t.TempDir(), "out"))
		o.rewardFn = nil
		o.Critic = c.critic
		_, err := RunPPO(context.Background(), o)
		if err == nil {
			t.Errorf("reward %s critic %q: no error", c.reward, c.critic)
			continue
		}
		fields := option.Fields(err)
		if !strings.Contains(err.Error(), c.text) || !slices.Contains(fields, c.want) || (c.not != "" && slices.Contains(fields, c.not)) {
			t.Errorf("reward %s critic %q: error %q (fields %v) should name %q (and not %q)", c.reward, c.critic, err, fields, c.want, c.not)
		}
	}
}
