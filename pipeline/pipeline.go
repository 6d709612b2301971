// Package pipeline runs a chain of rlhf steps described in a YAML file,
// skipping the steps whose outputs are already complete, the way make skips
// up-to-date targets. A step is one rlhf command line; the package does not
// know the commands themselves: the caller supplies the function that runs
// one (the CLI runs it in-process).
//
// The file:
//
//	workdir: out                 # relative to the config file; ${workdir} in args
//	vars:                        # ${name} substitutions
//	  seed: "1"
//	steps:
//	  - name: sft
//	    args: [sft, --model, "${workdir}/base", --data, "${workdir}/instruct/sft", --out, "${workdir}/ckpt/sft"]
//	    outputs: ["${workdir}/ckpt/sft"]
//
// A step is complete when the state file (${workdir}/_pipeline_state.json)
// records that it succeeded with the same arguments and all its outputs
// still exist. Changing a step's arguments reruns it and every step after it.
package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rlhf-project/rlhf/atomicfile"
	"github.com/rlhf-project/rlhf/option"
)

// Config is a pipeline file.
type Config struct {
	// Workdir is where outputs and the state file go, relative to the
	// config file's directory. Default ".".
	Workdir string `yaml:"workdir"`
	// Vars are substituted for ${name} in step arguments and outputs.
	Vars map[string]string `yaml:"vars"`
	// Steps run in order.
	Steps []Step `yaml:"steps"`
}

// Step is one rlhf command.
type Step struct {
	// Name identifies the step in logs, the state file and --only/--from.
	Name string `yaml:"name"`
	// Args is the rlhf command line without the program name.
	Args []string `yaml:"args"`
	// Outputs are the files or directories the step produces; the step is
	// rerun when one is missing.
	Outputs []string `yaml:"outputs"`
	// Clean are paths removed before the step runs afresh (its arguments or
	// an earlier step changed, or --force), e.g. a training output folder
	// that refuses to be overwritten.
	Clean []string `yaml:"clean"`
	// ResumeArgs are appended when the step is run again with the same
	// arguments after it was interrupted (e.g. [--resume]). Clean is never
	// applied to such a rerun, so the step can continue where it stopped.
	ResumeArgs []string `yaml:"resume_args"`
}

// Options are the options of `rlhf pipeline`.
type Options struct {
	// ConfigFile is the pipeline YAML file.
	ConfigFile string
	// Vars override or add to the file's vars (name=value).
	Vars map[string]string
	// Force reruns every selected step even when complete.
	Force bool
	// From starts at the named step (earlier steps are not run).
	From string
	// Only runs just the named steps.
	Only []string
	// DryRun prints what would run without running it.
	DryRun bool
}

// StepFunc runs one step's command line.
type StepFunc func(ctx context.Context, args []string) error

// StateName is the state file kept in the workdir.
const StateName = "_pipeline_state.json"

type stateFile struct {
	Steps map[string]stepState `json:"steps"`
	// Started records the argument hash of steps that started and have
	// not finished since, so a rerun can resume them.
	Started map[string]string `json:"started,omitempty"`
}

type stepState struct {
	ArgsSHA256 string    `json:"args_sha256"`
	Args       []string  `json:"args"`
	Finished   time.Time `json:"finished"`
	Seconds    float64   `json:"seconds"`
}

// Load reads and checks a pipeline file and resolves its substitutions.
// workdir is resolved against the file's directory.
func Load(path string, vars map[string]string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pipeline config: %w", err)
	}
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("pipeline config %s: %w", path, err)
	}
	if cfg.Workdir == "" {
		cfg.Workdir = "."
	}
	if !filepath.IsAbs(cfg.Workdir) {
		cfg.Workdir = filepath.Join(filepath.Dir(path), cfg.Workdir)
	}
	if cfg.Vars == nil {
		cfg.Vars = map[string]string{}
	}
	for k, v := range vars {
		cfg.Vars[k] = v
	}
	cfg.Vars["workdir"] = cfg.Workdir
	if len(cfg.Steps) == 0 {
		return nil, fmt.Errorf("pipeline config %s: no steps", path)
	}
	seen := map[string]bool{}
	for i := range cfg.Steps {
		s := &cfg.Steps[i]
		if s.Name == "" {
			return nil, fmt.Errorf("pipeline config %s: step %d has no name", path, i+1)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("pipeline config %s: step name %q used twice", path, s.Name)
		}
		seen[s.Name] = true
		if len(s.Args) == 0 {
			return nil, fmt.Errorf("pipeline config %s: step %q has no args", path, s.Name)
		}
		for j := range s.Args {
			if s.Args[j], err = expand(s.Args[j], cfg.Vars); err != nil {
				return nil, fmt.Errorf("pipeline config %s: step %q: %w", path, s.Name, err)
			}
		}
		for _, list := range [][]string{s.Outputs, s.Clean, s.ResumeArgs} {
			for j := range list {
				if list[j], err = expand(list[j], cfg.Vars); err != nil {
					return nil, fmt.Errorf("pipeline config %s: step %q: %w", path, s.Name, err)
				}
			}
		}
	}
	return &cfg, nil
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

func expand(s string, vars map[string]string) (string, error) {
	var missing string
	out := varRef.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		v, ok := vars[name]
		if !ok {
			missing = name
		}
		return v
	})
	if missing != "" {
		return "", option.Errorf("${%s} is not defined (add it under vars: or give {Vars} %s=...)", missing, missing)
	}
	return out, nil
}

func argsHash(args []string) string {
	h := sha256.New()
	for _, a := range args {
		h.Write([]byte(a))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Plan lists, for each step, whether it would run and why.
type Plan struct {
	Step   Step
	Run    bool
	Reason string
	// Resume is set when the step continues an interrupted run with the
	// same arguments (ResumeArgs are appended, Clean is skipped).
	Resume bool
}

// MakePlan decides which steps run.
func MakePlan(cfg *Config, opts Options) ([]Plan, error) {
	st, err := readState(cfg.Workdir)
	if err != nil {
		return nil, err
	}
	only := map[string]bool{}
	for _, n := range opts.Only {
		only[n] = true
	}
	names := map[string]bool{}
	for _, s := range cfg.Steps {
		names[s.Name] = true
	}
	for n := range only {
		if !names[n] {
			return nil, option.Errorf("{Only} %s: no such step", n)
		}
	}
	if opts.From != "" && !names[opts.From] {
		return nil, option.Errorf("{From} %s: no such step", opts.From)
	}
	var plans []Plan
	started := opts.From == ""
	upstreamRan := false
	for _, s := range cfg.Steps {
		if s.Name == opts.From {
			started = true
		}
		p := Plan{Step: s}
		switch {
		case !started:
			p.Reason = "before --from"
		case len(only) > 0 && !only[s.Name]:
			p.Reason = "not in --only"
		case opts.Force:
			p.Run, p.Reason = true, "--force"
		default:
			p.Run, p.Reason = needsRun(s, st, upstreamRan)
			if p.Run && !upstreamRan && st.Started[s.Name] == argsHash(s.Args) {
				p.Resume, p.Reason = true, "resuming an interrupted run"
			}
		}
		if p.Run {
			upstreamRan = true
		}
		plans = append(plans, p)
	}
	return plans, nil
}

func needsRun(s Step, st *stateFile, upstreamRan bool) (bool, string) {
	prev, ok := st.Steps[s.Name]
	if !ok {
		return true, "never completed"
	}
	if prev.ArgsSHA256 != argsHash(s.Args) {
		return true, "arguments changed"
	}
	for _, o := range s.Outputs {
		if _, err := os.Stat(o); err != nil {
			return true, "output " + o + " missing"
		}
	}
	if upstreamRan {
		return true, "an earlier step ran"
	}
	return false, "complete"
}

// Run executes the pipeline.
func Run(ctx context.Context, opts Options, run StepFunc) error {
	cfg, err := Load(opts.ConfigFile, opts.Vars)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Workdir, 0o755); err != nil {
		return fmt.Errorf("workdir: %w", err)
	}
	plans, err := MakePlan(cfg, opts)
	if err != nil {
		return err
	}
	for i, p := range plans {
		if !p.Run {
			slog.Info("pipeline: skip", "step", p.Step.Name, "n", fmt.Sprintf("%d/%d", i+1, len(plans)), "why", p.Reason)
			continue
		}
		slog.Info("pipeline: run", "step", p.Step.Name, "n", fmt.Sprintf("%d/%d", i+1, len(plans)), "why", p.Reason, "args", strings.Join(p.Step.Args, " "))
		if opts.DryRun {
			continue
		}
		args := p.Step.Args
		if p.Resume {
			args = append(append([]string{}, args...), p.Step.ResumeArgs...)
		} else {
			for _, c := range p.Step.Clean {
				if err := os.RemoveAll(c); err != nil {
					return fmt.Errorf("pipeline step %q: clean %s: %w", p.Step.Name, c, err)
				}
			}
		}
		if err := recordStarted(cfg.Workdir, p.Step); err != nil {
			return err
		}
		start := time.Now()
		if err := run(ctx, args); err != nil {
			return fmt.Errorf("pipeline step %q (rlhf %s): %w", p.Step.Name, strings.Join(p.Step.Args, " "), err)
		}
		for _, o := range p.Step.Outputs {
			if _, err := os.Stat(o); err != nil {
				return fmt.Errorf("pipeline step %q finished but did not produce %s", p.Step.Name, o)
			}
		}
		if err := recordDone(cfg.Workdir, p.Step, time.Since(start)); err != nil {
			return err
		}
		slog.Info("pipeline: done", "step", p.Step.Name, "seconds", fmt.Sprintf("%.1f", time.Since(start).Seconds()))
	}
	return nil
}

func readState(workdir string) (*stateFile, error) {
	st := &stateFile{Steps: map[string]stepState{}, Started: map[string]string{}}
	raw, err := os.ReadFile(filepath.Join(workdir, StateName))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, st); err != nil {
		return nil, fmt.Errorf("%s: %w (delete it to rerun every step)", filepath.Join(workdir, StateName), err)
	}
	if st.Steps == nil {
		st.Steps = map[string]stepState{}
	}
	if st.Started == nil {
		st.Started = map[string]string{}
	}
	return st, nil
}

func writeState(workdir string, st *stateFile) error {
	raw, _ := json.MarshalIndent(st, "", "  ")
	return atomicfile.WriteFile(filepath.Join(workdir, StateName), append(raw, '\n'), 0o644)
}

// recordStarted notes that a step started, and forgets that it was
// complete: its outputs are being rewritten.
func recordStarted(workdir string, s Step) error {
	st, err := readState(workdir)
	if err != nil {
		return err
	}
	st.Started[s.Name] = argsHash(s.Args)
	delete(st.Steps, s.Name)
	return writeState(workdir, st)
}

func recordDone(workdir string, s Step, took time.Duration) error {
	st, err := readState(workdir)
	if err != nil {
		return err
	}
	st.Steps[s.Name] = stepState{ArgsSHA256: argsHash(s.Args), Args: s.Args, Finished: time.Now().UTC(), Seconds: took.Seconds()}
	delete(st.Started, s.Name)
	return writeState(workdir, st)
}
