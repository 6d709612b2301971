// Package demo runs the whole rlhf recipe end to end on embedded sample
// data, on CPU, in a few minutes: it serves the embedded Baike/Zhihu-style
// demo site on loopback, writes the embedded sample NLP datasets to disk, and
// runs a pipeline file (written to OUT/pipeline.yaml so users can adapt it)
// that scrapes the site, builds prompts, initialises a tiny model and runs
// SFT, sampling, synthetic comparisons, reward modelling, PPO-ptx and
// evaluation.
//
// The sizes (steps, samples, tokens) are chosen for a 2-core CPU. The task
// the tiny model learns is the facts task (facts.go): one-sentence answers
// that a gold judge prefers when they state the reference's fact and end
// politely. The judge labels the comparisons the RM learns from, and eval
// reports PPO's win rate over SFT under both the RM and the judge.
package demo

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rlhf-project/rlhf/atomicfile"
	"github.com/rlhf-project/rlhf/option"
	"github.com/rlhf-project/rlhf/pipeline"
	"github.com/rlhf-project/rlhf/report"
	"github.com/rlhf-project/rlhf/scrape/demosite"
)

//go:embed data/*
var data embed.FS

//go:embed pipeline.yaml
var pipelineYAML []byte

// Options are the options of `rlhf demo`.
type Options struct {
	// Out is the folder every artefact goes to. Default "demo-out".
	Out string
	// SiteAddr is the loopback address the demo site is served on while the
	// pipeline scrapes it. Default 127.0.0.1:18089. It is part of the scrape
	// steps' arguments, so keep it fixed to let reruns skip complete steps.
	SiteAddr string
	// Force reruns every step.
	Force bool
	// Backend is the compute backend of the model steps. Default "go".
	Backend string
}

// Run writes the inputs and the pipeline file under opts.Out, serves the demo
// site and runs the pipeline with run, then prints where each artefact is.
func Run(ctx context.Context, w io.Writer, opts Options, run pipeline.StepFunc) error {
	if opts.Out == "" {
		opts.Out = "demo-out"
	}
	if opts.SiteAddr == "" {
		opts.SiteAddr = "127.0.0.1:18089"
	}
	if opts.Backend == "" {
		opts.Backend = "go"
	}
	out, err := filepath.Abs(opts.Out)
	if err != nil {
		return err
	}
	if err := Dest(out).Check(); err != nil {
		return option.Errorf("{Out}: %w", err)
	}
	// The site first: when its port is taken, nothing is written.
	site, stop, err := demosite.Start(opts.SiteAddr)
	if err != nil {
		return option.Errorf("%w (pass {SiteAddr} with a free loopback port)", err)
	}
	defer stop()
	slog.Info("demo: serving the embedded sample site", "url", site+"/")

	if err := writeInputs(filepath.Join(out, "inputs")); err != nil {
		return err
	}
	cfgPath := filepath.Join(out, "pipeline.yaml")
	if err := atomicfile.WriteFile(cfgPath, pipelineYAML, 0o644); err != nil {
		return err
	}

	start := time.Now()
	err = pipeline.Run(ctx, pipeline.Options{
		ConfigFile: cfgPath,
		Force:      opts.Force,
		Vars:       map[string]string{"site": site, "backend": opts.Backend},
	}, run)
	if err != nil {
		return err
	}
	if err := report.Write(out, filepath.Join(out, "report.html")); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	printArtefacts(w, out, time.Since(start))
	return nil
}

// Dest is the destination of Run (see atomicfile.Dest): a missing or empty
// folder, or the folder of an earlier demo (with its pipeline.yaml), which
// the demo continues.
func Dest(out string) atomicfile.Dest {
	return atomicfile.Dest{Path: out, What: "demo output", Ours: func(dir string) bool {
		_, err := os.Stat(filepath.Join(dir, "pipeline.yaml"))
		return err == nil
	}}
}

// FactsFile is the name, under OUT/inputs, of the demo's learnable task
// (see factsJSONL).
const FactsFile = "facts.jsonl"

// writeInputs copies the embedded sample datasets to dir, with the facts
// task.
func writeInputs(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, FactsFile), factsJSONL(1), 0o644); err != nil {
		return err
	}
	return fs.WalkDir(data, "data", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := data.ReadFile(path)
		if err != nil {
			return err
		}
		return atomicfile.WriteFile(filepath.Join(dir, strings.TrimPrefix(path, "data/")), raw, 0o644)
	})
}

var artefacts = []struct{ path, what string }{
	{"pipeline.yaml", "the pipeline that produced all of this (rerun or adapt: rlhf pipeline --config PATH)"},
	{"report.html", "the report: data, curves, eval and answers in one HTML page (open it in a browser)"},
	{"_pipeline_state.json", "the pipeline's record of the steps done (a rerun skips them)"},
	{"inputs", "the embedded sample NLP datasets build-prompts read, and facts.jsonl (the task the tiny model learns)"},
	{"qa", "qa dataset scraped from the Baike-style pages"},
	{"qa-zhihu", "qa dataset scraped from the Zhihu-style pages (with votes)"},
	{"comparisons-votes", "comparisons from Zhihu up-votes"},
	{"instruct/report.md", "build-prompts report: task mix target vs achieved, rows per pool and task"},
	{"instruct/sft/sft", "sft pool: demonstrations (train/val) SFT trains on"},
	{"instruct/rm/prompts", "rm pool: prompts (train/val) the RM's comparisons are sampled on"},
	{"instruct/ppo/prompts", "ppo pool: prompts (train/val) PPO trains on"},
	{"instruct/eval/prompts", "eval pool: held-out prompts eval compares on"},
	{"tokenizer.json", "the BPE tokenizer learnt on the training pools' texts"},
	{"base", "the tiny randomly initialised base model (Hugging Face layout)"},
	{"ckpt/sft", "SFT model, metrics.jsonl and loss plots"},
	{"samples", "K sampled answers per prompt from the SFT model (response dataset)"},
	{"comparisons", "K-wise comparisons of the samples ranked by the gold judge (the demo's labeller)"},
	{"ckpt/rm", "reward model (score head), metrics and held-out accuracy plots"},
	{"ckpt/ppo", "PPO-ptx policy, metrics.jsonl and plots"},
	{"eval/eval.json", "PPO policy vs SFT under the reward model and the gold rule: win rates, rewards, KL"},
	{"eval/policy", "PPO's answers to the eval prompts (response dataset)"},
	{"eval/baseline", "SFT's answers to the eval prompts (response dataset)"},
}

func printArtefacts(w io.Writer, out string, took time.Duration) {
	printSummary(w, out)
	printStepTimes(w, out)
	fmt.Fprintf(w, "\nrlhf demo finished in %s. Everything it wrote:\n", took.Round(time.Second))
	for _, a := range artefacts {
		p := filepath.Join(out, a.path)
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		fmt.Fprintf(w, "  %s\n      %s\n", p, a.what)
	}
	fmt.Fprintf(w, "\nLook inside: rlhf inspect %s  (or DuckDB/pandas on the part-*.parquet files)\n",
		filepath.Join(out, "instruct", "sft", "sft", "train"))
}
