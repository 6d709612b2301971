package reward

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rlhf-project/rlhf/dataset"
)

// Input is what a rule reward sees of one response; the JSON names
// are the cmd: protocol's.
type Input struct {
	Prompt    string `json:"prompt"`
	Response  string `json:"response"`
	Reference string `json:"reference"`
	// History is the conversation before Prompt (system message, earlier
	// turns); absent for a single-turn prompt.
	History []dataset.Message `json:"history,omitempty"`
}

// InputOf is the rule reward input of a response to prompt row p.
func InputOf(p dataset.Prompt, response string) Input {
	h, _ := dataset.DecodeHistory(p.History) // checked when the prompts were read
	return Input{Prompt: p.Prompt, Response: response, Reference: p.Reference, History: h}
}

// DefaultTimeout bounds one call of a cmd: reward program when
// Rule.Timeout is 0.
const DefaultTimeout = 60 * time.Second

// Rule is one rule reward, parsed from its spec:
//
//   - exact-match: 1 when the response equals the reference, else 0;
//   - contains: 1 when the response contains the reference, else 0;
//   - regex:PATTERN: 1 when the response matches PATTERN (Go RE2 syntax,
//     unanchored), else 0; the reference is not used;
//   - recall: the share of the reference's words the response contains
//     (ROUGE-1 recall over lower-cased words, each Han character a word; a
//     word counts as often as the reference has it), from 0 to 1;
//   - length-penalty: −min(1, |len(response) − len(reference)| / len(reference))
//     in characters: 0 for an answer as long as the reference, down to −1;
//   - cmd:PROG [ARGS]: an external program, run once per Score call, that
//     reads one JSON object {"prompt","response","reference"} per line on
//     stdin and writes one number per line on stdout, in order. A program
//     that fails, runs past Timeout, or writes anything but one finite
//     number per response is an error naming it, never a zero score.
//     PROG and ARGS are split at spaces, without shell quoting (wrap
//     anything else in a script).
//
// exact-match and contains compare normalised texts: lower case, runs of
// white space as one space, no white space or final punctuation (. ! ? 。
// ！ ？) at either end.
type Rule struct {
	// Spec is the rule as given, e.g. "regex:^\d+$".
	Spec string
	// Timeout bounds one call of a cmd: program (0: DefaultTimeout).
	Timeout time.Duration

	name  string
	rule  func(Input) float64 // nil for cmd:
	prog  []string            // cmd: program and arguments
	noRef bool                // the rule does not read the reference
}

// Parse parses a rule reward spec (see Rule). A cmd:
// program must be found (in PATH or as a path) now.
func Parse(spec string) (*Rule, error) {
	r := &Rule{Spec: spec}
	kind, arg, hasArg := strings.Cut(spec, ":")
	switch {
	case spec == "exact-match":
		r.name, r.rule = "exact_match", func(in Input) float64 {
			return boolReward(normAnswer(in.Response) == normAnswer(in.Reference))
		}
	case spec == "contains":
		r.name, r.rule = "contains", func(in Input) float64 {
			return boolReward(strings.Contains(normAnswer(in.Response), normAnswer(in.Reference)))
		}
	case spec == "recall":
		r.name, r.rule = "recall", recall
	case spec == "length-penalty":
		r.name, r.rule = "length_penalty", lengthPenalty
	case kind == "regex" && hasArg:
		if arg == "" {
			return nil, fmt.Errorf("reward function %q: empty pattern (want regex:PATTERN)", spec)
		}
		re, err := regexp.Compile(arg)
		if err != nil {
			return nil, fmt.Errorf("reward function %q: %w", spec, err)
		}
		r.name, r.noRef = "regex", true
		r.rule = func(in Input) float64 { return boolReward(re.MatchString(in.Response)) }
	case kind == "cmd" && hasArg:
		r.prog = strings.Fields(arg)
		if len(r.prog) == 0 {
			return nil, fmt.Errorf("reward function %q: no program (want cmd:PROG)", spec)
		}
		if _, err := exec.LookPath(r.prog[0]); err != nil {
			return nil, fmt.Errorf("reward function %q: %w", spec, err)
		}
		r.name, r.noRef = "cmd", true
	default:
		return nil, fmt.Errorf("reward function %q: want exact-match, contains, recall, regex:PATTERN, length-penalty or cmd:PROG", spec)
	}
	return r, nil
}

// NeedsReference reports whether the rule compares with the reference
// answer (exact-match, contains, recall, length-penalty); regex: and cmd: do not
// need one (a cmd: program gets "" when a row has none).
func (r *Rule) NeedsReference() bool { return !r.noRef }

// Score scores the responses, in order.
func (r *Rule) Score(ctx context.Context, in []Input) ([]float64, error) {
	if r.rule != nil {
		out := make([]float64, len(in))
		for i, x := range in {
			out[i] = r.rule(x)
		}
		return out, nil
	}
	return r.runProgram(ctx, in)
}

// runProgram runs the cmd: program once over every input.
func (r *Rule) runProgram(ctx context.Context, in []Input) ([]float64, error) {
	if len(in) == 0 {
		return nil, nil
	}
	var stdin bytes.Buffer
	enc := json.NewEncoder(&stdin)
	enc.SetEscapeHTML(false)
	for _, x := range in {
		if err := enc.Encode(x); err != nil {
			return nil, err
		}
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := exec.CommandContext(cctx, r.prog[0], r.prog[1:]...)
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: 2000}
	c.Stdin, c.Stdout, c.Stderr = &stdin, &stdout, stderr
	// A program that leaves children holding its output open must not
	// hang the run once it is killed.
	c.WaitDelay = 2 * time.Second
	err := c.Run()
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(cctx.Err(), context.DeadlineExceeded):
		return nil, fmt.Errorf("reward function %q: no answer within %s for %d responses (killed; raise the reward timeout or speed the program up)%s",
			r.Spec, timeout, len(in), stderr.note())
	case err != nil:
		return nil, fmt.Errorf("reward function %q: %w%s", r.Spec, err, stderr.note())
	}
	return parseRewardLines(r.Spec, stdout.String(), len(in))
}

// parseRewardLines reads exactly n finite numbers, one per line.
func parseRewardLines(spec, out string, n int) ([]float64, error) {
	out = strings.TrimSuffix(strings.ReplaceAll(out, "\r\n", "\n"), "\n")
	var lines []string
	if out != "" {
		lines = strings.Split(out, "\n")
	}
	if len(lines) != n {
		return nil, fmt.Errorf("reward function %q: wrote %d lines for %d responses; want one number per line, in input order", spec, len(lines), n)
	}
	scores := make([]float64, n)
	for i, line := range lines {
		v, err := strconv.ParseFloat(strings.TrimSpace(line), 64)
		if err != nil {
			return nil, fmt.Errorf("reward function %q: output line %d: %q is not a number", spec, i+1, clipRunes(line, 80))
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("reward function %q: output line %d: %v is not a finite number", spec, i+1, v)
		}
		scores[i] = v
	}
	return scores, nil
}

// Names are the metric names of rules, in order: exact_match,
// contains, regex, length_penalty, cmd, with _2, _3, … on repeats.
func Names(rules []*Rule) []string {
	names := make([]string, len(rules))
	seen := map[string]int{}
	for i, r := range rules {
		seen[r.name]++
		names[i] = r.name
		if k := seen[r.name]; k > 1 {
			names[i] = fmt.Sprintf("%s_%d", r.name, k)
		}
	}
	return names
}

func boolReward(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// normAnswer is the text exact-match and contains compare.
func normAnswer(s string) string {
	s = strings.Join(strings.Fields(strings.ToLower(s)), " ")
	return strings.TrimSpace(strings.Trim(s, ".!?。！？ "))
}

// recall is the share of the reference's words found in the response.
func recall(in Input) float64 {
	ref := words(in.Reference)
	if len(ref) == 0 {
		return 0
	}
	have := map[string]int{}
	for _, w := range words(in.Response) {
		have[w]++
	}
	found := 0
	for _, w := range ref {
		if have[w] > 0 {
			have[w]--
			found++
		}
	}
	return float64(found) / float64(len(ref))
}

// words splits s into lower-cased words: runs of letters and digits, each
// Han character (Chinese has no spaces) a word of its own.
func words(s string) []string {
	var out []string
	start := -1
	for i, c := range s {
		switch {
		case unicode.Is(unicode.Han, c):
			if start >= 0 {
				out = append(out, strings.ToLower(s[start:i]))
				start = -1
			}
			out = append(out, string(c))
		case unicode.IsLetter(c) || unicode.IsDigit(c):
			if start < 0 {
				start = i
			}
		default:
			if start >= 0 {
				out = append(out, strings.ToLower(s[start:i]))
				start = -1
			}
		}
	}
	if start >= 0 {
		out = append(out, strings.ToLower(s[start:]))
	}
	return out
}

func lengthPenalty(in Input) float64 {
	ref := float64(utf8.RuneCountInString(strings.TrimSpace(in.Reference)))
	got := float64(utf8.RuneCountInString(strings.TrimSpace(in.Response)))
	return -math.Min(1, math.Abs(got-ref)/math.Max(ref, 1))
}

func clipRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// tailBuffer keeps the last max bytes written (a program's stderr).
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

// note is "; stderr: …" when the program wrote to stderr.
func (t *tailBuffer) note() string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(t.b), "�"))
	if s == "" {
		return ""
	}
	return "; stderr: " + s
}
