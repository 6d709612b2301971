package train

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/model/tokenizer"
)

// BenchmarkPPOIteration times PPO iterations split into generation,
// scoring (actor, reference, critic, reward) and training, on the backend
// of $RLHF_BACKEND (default go), for the tiny test model and a GPT-2-small
// shaped model (12 layers, 768 hidden, vocabulary 50257; random weights,
// the byte-level tokenizer). One op is one iteration after a first
// (compiling) one; rollouts of 8 prompts, mini-batches of 8, 16 new
// tokens, one PPO epoch. Run with -benchtime=1x for GPT-2 small:
//
//	go test ./train -run '^$' -bench PPOIteration -benchtime=1x
func BenchmarkPPOIteration(b *testing.B) {
	for _, c := range []struct {
		name                         string
		vocab, layers, hidden, heads int
	}{
		{"tiny", 257, 2, 32, 4},
		{"gpt2-small", 50257, 12, 768, 12},
	} {
		b.Run(c.name, func(b *testing.B) {
			cfg, err := model.NewConfig(model.ArchGPT2, c.vocab, c.layers, c.hidden, c.heads, 0)
			if err != nil {
				b.Fatal(err)
			}
			cfg.MaxPositions, cfg.EOS = 1024, 256
			m, err := model.New(cfg, 1)
			if err != nil {
				b.Fatal(err)
			}
			dir := b.TempDir()
			policy, critic := filepath.Join(dir, "policy"), filepath.Join(dir, "critic")
			if err := m.Save(policy); err != nil {
				b.Fatal(err)
			}
			if err := m.AddScoreHead(2); err != nil {
				b.Fatal(err)
			}
			if err := m.Save(critic); err != nil {
				b.Fatal(err)
			}
			for _, d := range []string{policy, critic} {
				if err := tokenizer.WriteByteLevel(filepath.Join(d, "tokenizer.json")); err != nil {
					b.Fatal(err)
				}
			}
			m = nil
			o := ppoTinyOptions(policy, critic, filepath.Join(dir, "ppo"))
			o.Backend = ""
			o.RolloutBatch, o.MiniBatch, o.MaxNewTokens, o.PPOEpochs = 8, 8, 16, 1
			o.Iterations, o.LogSamples, o.SaveEvery = 1+b.N, 0, 1<<30
			o.LR, o.CriticLR = 1e-5, 1e-5
			b.ResetTimer()
			if _, err := RunPPO(context.Background(), o); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			rows, err := ReadMetrics(filepath.Join(o.Out, MetricsFile))
			if err != nil {
				b.Fatal(err)
			}
			var gen, score, train, genTok, trainTok float64
			for _, r := range rows[1:] {
				gen += r["time_gen_s"]
				score += r["time_score_s"]
				train += r["time_train_s"]
				genTok += r["tokens_per_s_gen"]
				trainTok += r["tokens_per_s_train"]
			}
			n := float64(len(rows) - 1)
			b.ReportMetric(gen/n, "gen-s/iter")
			b.ReportMetric(score/n, "score-s/iter")
			b.ReportMetric(train/n, "train-s/iter")
			b.ReportMetric(genTok/n, "gen-tok/s")
			b.ReportMetric(trainTok/n, "train-tok/s")
			b.Log(fmt.Sprintf("first iteration (compiles): gen %.2fs score %.2fs train %.2fs",
				rows[0]["time_gen_s"], rows[0]["time_score_s"], rows[0]["time_train_s"]))
		})
	}
}
