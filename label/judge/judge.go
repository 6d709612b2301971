// Package judge is rlhf's AI labeller: it asks a chat model behind any
// OpenAI-compatible chat-completions endpoint (a hosted API, vLLM,
// llama.cpp's server) to rank the K answers of each prompt of a response
// dataset, and writes the verdicts as a comparison dataset.
//
// Each group is asked twice, once with the answers in dataset order and
// once reversed (the position-bias guard); only the answer pairs both
// verdicts order the same way are kept. Replies are cached on disk by a hash
// of the request, so a rerun costs no API calls. Requests run concurrently,
// rate-limited, with retries and exponential backoff on network errors, 429
// and 5xx. Given a labels.db, Run also reports how often the kept pairs
// agree with the human gold rankings.
//
// Naming: a verdict is one parsed reply (a ranking of answer labels A, B,
// ...); the rubric is the text/template that renders the request.
package judge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"golang.org/x/time/rate"

	"github.com/rlhf-project/rlhf/atomicfile"
	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/label"
	"github.com/rlhf-project/rlhf/option"
	"github.com/rlhf-project/rlhf/progress"
)

//go:embed rubric_en.tmpl rubric_zh.tmpl
var rubrics embed.FS

// Options tune Run (`rlhf judge`).
type Options struct {
	// Responses are the response datasets to rank (K answers per prompt_id).
	Responses []string
	// BaseURL is the API root; requests go to BaseURL + "/chat/completions"
	// (e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1).
	BaseURL string
	// Model is the model name sent with every request; it is also the
	// source column of the output.
	Model string
	// Out is the comparison dataset directory to write.
	Out string
	// APIKeyEnv names the environment variable holding the API key.
	// Default "OPENAI_API_KEY"; an unset variable sends no key (local
	// servers).
	APIKeyEnv string
	// Rubric is a text/template file rendering the request (fields .Prompt,
	// .History with .Role and .Content, .Answers with .Label and .Text, .K,
	// .Example); empty uses the built-in
	// English or Chinese rubric by the prompt's language.
	Rubric string
	// Lang picks the built-in rubric: auto (by prompt), en or zh. Default auto.
	Lang string
	// Concurrency is the number of requests in flight. Default 4.
	Concurrency int
	// RequestsPerSecond limits the request rate; 0 means no limit.
	RequestsPerSecond float64
	// MaxRetries is how often a failed request (network error, 429, 5xx) is
	// retried. Default 5 (0 means the default; negative means no retries).
	MaxRetries int
	// Backoff is the wait before the first retry; it doubles each retry
	// (with jitter), up to one minute. A Retry-After header wins. Default 1s.
	Backoff time.Duration
	// Timeout bounds one request. Default 2 minutes.
	Timeout time.Duration
	// Temperature and MaxTokens are sent with every request. Defaults 0
	// and 512.
	Temperature float64
	MaxTokens   int
	// CacheDir holds the cached replies. Default Out + ".judge-cache".
	CacheDir string
	// NoCache disables reading and writing the cache.
	NoCache bool
	// LabelsDB, when set, is a labels.db whose gold rankings the verdicts
	// are compared with.
	LabelsDB string
	// Client is the HTTP client; nil uses a default one.
	Client *http.Client `json:"-"`
}

func (o *Options) defaults() {
	if o.APIKeyEnv == "" {
		o.APIKeyEnv = "OPENAI_API_KEY"
	}
	if o.Lang == "" {
		o.Lang = "auto"
	}
	if o.Concurrency == 0 {
		o.Concurrency = 4
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 5
	}
	if o.Backoff == 0 {
		o.Backoff = time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.MaxTokens == 0 {
		o.MaxTokens = 512
	}
	if o.CacheDir == "" {
		o.CacheDir = strings.TrimRight(o.Out, "/") + ".judge-cache"
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
}

// Report says what Run did.
type Report struct {
	Groups int `json:"groups"`
	// Requests counts API calls made; CacheHits the replies read from the cache.
	Requests  int `json:"requests"`
	CacheHits int `json:"cache_hits"`
	// Unparseable counts groups dropped because a reply held no valid ranking.
	Unparseable int `json:"unparseable"`
	// Pairs counts answer pairs judged in both orders, Consistent those the
	// two verdicts ordered the same way (the ones written).
	Pairs      int   `json:"pairs"`
	Consistent int   `json:"consistent"`
	Rows       int64 `json:"rows"`
	// GoldPairs counts written pairs that have a strict gold order in
	// LabelsDB; GoldAgree those ordered as gold.
	GoldPairs int `json:"gold_pairs"`
	GoldAgree int `json:"gold_agree"`
}

// Consistency is the share of pairs both verdicts agreed on.
func (r *Report) Consistency() float64 {
	if r.Pairs == 0 {
		return 0
	}
	return float64(r.Consistent) / float64(r.Pairs)
}

// GoldAgreement is the share of gold pairs the judge ordered as gold; -1
// without gold pairs.
func (r *Report) GoldAgreement() float64 {
	if r.GoldPairs == 0 {
		return -1
	}
	return float64(r.GoldAgree) / float64(r.GoldPairs)
}

type rubricData struct {
	Prompt string
	// History is the conversation before the prompt (system message,
	// earlier turns); empty for a single-turn prompt.
	History []dataset.Message
	Answers []struct{ Label, Text string }
	K       int
	Example string
}

const system = "You are an impartial expert evaluator. Follow the instructions and answer with JSON only."

func labelOf(i int) string { return string(rune('A' + i)) }

// ParseVerdict reads a reply's ranking of k answers labelled A, B, ...: the
// first JSON object in the text (code fences allowed) with a "ranking" list
// holding every label exactly once, best first. It returns the answer
// indexes, best first.
func ParseVerdict(reply string, k int) ([]int, error) {
	start := strings.Index(reply, "{")
	end := strings.LastIndex(reply, "}")
	if start < 0 || end < start {
		return nil, errors.New("no JSON object in the reply")
	}
	var v struct {
		Ranking []string `json:"ranking"`
	}
	if err := json.Unmarshal([]byte(reply[start:end+1]), &v); err != nil {
		return nil, fmt.Errorf("reply JSON: %w", err)
	}
	if len(v.Ranking) != k {
		return nil, fmt.Errorf("ranking has %d labels, want %d", len(v.Ranking), k)
	}
	seen := map[int]bool{}
	out := make([]int, 0, k)
	for _, l := range v.Ranking {
		l = strings.ToUpper(strings.TrimSpace(l))
		if len(l) != 1 || l[0] < 'A' || int(l[0]-'A') >= k || seen[int(l[0]-'A')] {
			return nil, fmt.Errorf("ranking label %q is not one of A..%s exactly once", l, labelOf(k-1))
		}
		seen[int(l[0]-'A')] = true
		out = append(out, int(l[0]-'A'))
	}
	return out, nil
}

// judge holds what the workers share.
type judge struct {
	opts    Options
	key     string
	tmpl    map[string]*template.Template // by lang, "" for a custom rubric
	limiter *rate.Limiter

	mu  sync.Mutex
	rep Report
}

func (j *judge) render(it *label.Item, order []int) (string, error) {
	t := j.tmpl[""]
	if t == nil {
		lang := j.opts.Lang
		if lang == "auto" {
			lang = it.Lang
		}
		t = j.tmpl[lang]
		if t == nil {
			t = j.tmpl["en"]
		}
	}
	d := rubricData{Prompt: it.Prompt, History: it.History, K: len(order)}
	var ex []string
	for pos, idx := range order {
		d.Answers = append(d.Answers, struct{ Label, Text string }{labelOf(pos), it.Answers[idx].Text})
		ex = append(ex, strconv.Quote(labelOf(len(order)-1-pos)))
	}
	d.Example = strings.Join(ex, ", ")
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("rubric: %w", err)
	}
	return b.String(), nil
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model       string        `json:"model"`
	Messages    []chatMessage `json:"messages"`
	Temperature float64       `json:"temperature"`
	MaxTokens   int           `json:"max_tokens"`
}

type chatResponse struct {
	Choices []struct {
		Message chatMessage `json:"message"`
	} `json:"choices"`
}

// errPermanent marks a failure retrying cannot fix.
type errPermanent struct{ error }

// ask returns the model's reply to a request, from the cache when there.
// valid, when not nil, checks a reply: one it refuses is returned with its
// error and never cached, so a rerun asks again.
func (j *judge) ask(ctx context.Context, user string, valid func(string) error) (string, error) {
	req := chatRequest{Model: j.opts.Model, Messages: []chatMessage{{"system", system}, {"user", user}}, Temperature: j.opts.Temperature, MaxTokens: j.opts.MaxTokens}
	body, _ := json.Marshal(req)
	sum := sha256.Sum256(body)
	key := hex.EncodeToString(sum[:])
	cachePath := filepath.Join(j.opts.CacheDir, key[:2], key+".json")
	if !j.opts.NoCache {
		if raw, err := os.ReadFile(cachePath); err == nil {
			var c struct {
				Content string `json:"content"`
			}
			if json.Unmarshal(raw, &c) == nil && (valid == nil || valid(c.Content) == nil) {
				j.mu.Lock()
				j.rep.CacheHits++
				j.mu.Unlock()
				return c.Content, nil
			}
		}
	}
	var last error
	for attempt := 0; attempt <= max(j.opts.MaxRetries, 0); attempt++ {
		if attempt > 0 {
			wait := time.Minute
			if attempt <= 20 {
				wait = min(j.opts.Backoff<<(attempt-1), time.Minute)
			}
			wait = min(wait/2+time.Duration(rand.Int64N(int64(wait)+1)), time.Minute)
			var ra *errRetryAfter
			if errors.As(last, &ra) {
				wait = ra.after
			}
			slog.Debug("judge: retrying", "attempt", attempt, "wait", wait, "err", last)
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(wait):
			}
		}
		if j.limiter != nil {
			if err := j.limiter.Wait(ctx); err != nil {
				return "", err
			}
		}
		content, err := j.post(ctx, body)
		j.mu.Lock()
		j.rep.Requests++
		j.mu.Unlock()
		if err == nil && valid != nil {
			if verr := valid(content); verr != nil {
				return content, verr
			}
		}
		if err == nil {
			if !j.opts.NoCache {
				raw, _ := json.Marshal(map[string]string{"content": content, "model": j.opts.Model})
				if err := os.MkdirAll(filepath.Dir(cachePath), 0o755); err != nil {
					return "", fmt.Errorf("judge cache: %w", err)
				}
				if err := atomicfile.WriteFile(cachePath, raw, 0o644); err != nil {
					return "", fmt.Errorf("judge cache: %w", err)
				}
			}
			return content, nil
		}
		var perm errPermanent
		if errors.As(err, &perm) || ctx.Err() != nil {
			return "", err
		}
		last = err
	}
	return "", fmt.Errorf("judge: %s/chat/completions failed after %d retries: %w", j.opts.BaseURL, max(j.opts.MaxRetries, 0), last)
}

type errRetryAfter struct {
	error
	after time.Duration
}

// post makes one chat-completions call.
func (j *judge) post(ctx context.Context, body []byte) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, j.opts.Timeout)
	defer cancel()
	url := strings.TrimRight(j.opts.BaseURL, "/") + "/chat/completions"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", errPermanent{option.Errorf("{BaseURL} %q: %w", j.opts.BaseURL, err)}
	}
	req.Header.Set("Content-Type", "application/json")
	if j.key != "" {
		req.Header.Set("Authorization", "Bearer "+j.key)
	}
	resp, err := j.opts.Client.Do(req)
	if err != nil {
		return "", err // network errors are retried
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		err := fmt.Errorf("%s: HTTP %d: %s", url, resp.StatusCode, snippet(raw))
		if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs >= 0 {
			return "", &errRetryAfter{err, min(time.Duration(secs)*time.Second, time.Minute)}
		}
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", errPermanent{fmt.Errorf("%s: HTTP %d: %s", url, resp.StatusCode, snippet(raw))}
	}
	var cr chatResponse
	if err := json.Unmarshal(raw, &cr); err != nil || len(cr.Choices) == 0 {
		return "", fmt.Errorf("%s: not a chat-completions reply: %s", url, snippet(raw))
	}
	return cr.Choices[0].Message.Content, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// result is the outcome for one group.
type result struct {
	rows       []dataset.Comparison
	pairs      int
	consistent int
	bad        bool
}

// judgeGroup asks for both orders and keeps the consistent pairs.
func (j *judge) judgeGroup(ctx context.Context, it *label.Item) (result, error) {
	k := len(it.Answers)
	fwd := make([]int, k)
	rev := make([]int, k)
	for i := range fwd {
		fwd[i] = i
		rev[i] = k - 1 - i
	}
	pos := make([][]int, 2) // pos[v][answer] = position in verdict v (0 best)
	for v, order := range [][]int{fwd, rev} {
		user, err := j.render(it, order)
		if err != nil {
			return result{}, err
		}
		reply, err := j.ask(ctx, user, nil)
		if err != nil {
			return result{}, err
		}
		ranking, err := ParseVerdict(reply, k)
		if err != nil {
			slog.Warn("judge: unusable reply, group dropped", "group", it.GroupID, "err", err)
			return result{bad: true}, nil
		}
		pos[v] = make([]int, k)
		for p, label := range ranking {
			pos[v][order[label]] = p
		}
	}
	// Ranks by the summed positions of both verdicts: every consistent pair
	// keeps its order, and neither presentation order is favoured.
	sum := label.Ranking{}
	for a := range it.Answers {
		sum[strconv.Itoa(a)] = pos[0][a] + pos[1][a] + 1
	}
	g := label.Group{GroupID: dataset.ContentID("judge", j.opts.Model, it.GroupID), Prompt: it.Prompt, History: dataset.EncodeHistory(it.History), Lang: it.Lang, Source: j.opts.Model}
	dense := label.DenseRanks(sum)
	for a, ans := range it.Answers {
		g.Answers = append(g.Answers, ans.Text)
		g.Ranks = append(g.Ranks, dense[strconv.Itoa(a)])
	}
	res := result{pairs: k * (k - 1) / 2}
	res.rows = g.PairsWhere(func(better, worse int) bool {
		return pos[0][better] < pos[0][worse] && pos[1][better] < pos[1][worse]
	})
	res.consistent = len(res.rows)
	return res, nil
}

// checkNegative refuses negative settings: zero means the default, a
// negative setting is a mistake, not a default.
func (opts *Options) checkNegative() error {
	for _, x := range []struct {
		name     string
		negative bool
		v        any
	}{
		{"Concurrency", opts.Concurrency < 0, opts.Concurrency},
		{"RequestsPerSecond", opts.RequestsPerSecond < 0, opts.RequestsPerSecond},
		{"Backoff", opts.Backoff < 0, opts.Backoff},
		{"Timeout", opts.Timeout < 0, opts.Timeout},
		{"Temperature", opts.Temperature < 0, opts.Temperature},
		{"MaxTokens", opts.MaxTokens < 0, opts.MaxTokens},
	} {
		if x.negative {
			return option.Errorf("judge: %s %v: must not be negative", option.Field(x.name), x.v)
		}
	}
	return nil
}

// newJudge checks the language, reads the rubric and sets up the rate
// limit of opts (defaults applied).
func newJudge(opts Options) (*judge, error) {
	switch opts.Lang {
	case "auto", "en", "zh":
	default:
		return nil, option.Errorf("{Lang} %q: want auto, en or zh", opts.Lang)
	}
	j := &judge{opts: opts, key: os.Getenv(opts.APIKeyEnv), tmpl: map[string]*template.Template{}}
	if opts.Rubric != "" {
		raw, err := os.ReadFile(opts.Rubric)
		if err != nil {
			return nil, option.Errorf("{Rubric}: %w", err)
		}
		t, err := template.New(filepath.Base(opts.Rubric)).Option("missingkey=error").Parse(string(raw))
		if err != nil {
			return nil, option.Errorf("{Rubric} %s: %w", opts.Rubric, err)
		}
		j.tmpl[""] = t
	} else {
		for _, lang := range []string{"en", "zh"} {
			j.tmpl[lang] = template.Must(template.ParseFS(rubrics, "rubric_"+lang+".tmpl"))
		}
	}
	if opts.RequestsPerSecond > 0 {
		j.limiter = rate.NewLimiter(rate.Limit(opts.RequestsPerSecond), 1)
	}
	return j, nil
}

// parallel runs do(ctx, i) for i in [0, n) on workers goroutines; the first
// error cancels the rest and is returned.
func parallel(ctx context.Context, n, workers int, do func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := do(ctx, i); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// Run ranks every group of the response datasets and writes the
// consistent pairs as a comparison dataset (source = model name).
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.checkNegative(); err != nil {
		return nil, err
	}
	opts.defaults()
	if len(opts.Responses) == 0 || opts.Out == "" || opts.BaseURL == "" || opts.Model == "" {
		return nil, option.Errorf("judge: {Responses}, {BaseURL}, {Model} and {Out} are required")
	}
	// The reply cache is read and written; replacing Out must not lose it.
	inputs := append(slices.Clone(opts.Responses), opts.Rubric, opts.LabelsDB)
	if !opts.NoCache {
		inputs = append(inputs, opts.CacheDir)
	}
	if err := dataset.CheckOutput[dataset.Comparison](opts.Out, inputs...); err != nil {
		return nil, option.Errorf("{Out}: %w", err)
	}
	j, err := newJudge(opts)
	if err != nil {
		return nil, err
	}
	items, err := label.ReadGroups(ctx, opts.Responses...)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("judge: %s holds no prompt with two or more answers", strings.Join(opts.Responses, ", "))
	}
	for _, it := range items {
		if len(it.Answers) > 26 {
			return nil, fmt.Errorf("judge: prompt %s has %d answers; at most 26 can be labelled A-Z", it.GroupID, len(it.Answers))
		}
	}
	var gold map[string]label.Submission
	if opts.LabelsDB != "" {
		if _, err := os.Stat(opts.LabelsDB); err != nil {
			return nil, option.Errorf("{LabelsDB}: %w", err)
		}
		store, err := label.OpenStore(opts.LabelsDB)
		if err != nil {
			return nil, err
		}
		st, err := store.State()
		store.Close()
		if err != nil {
			return nil, err
		}
		gold = st.Gold
	}

	bar := progress.New(ctx, int64(len(items)), "groups")
	results := make([]result, len(items))
	err = parallel(ctx, len(items), opts.Concurrency, func(ctx context.Context, i int) error {
		res, err := j.judgeGroup(ctx, items[i])
		if err != nil {
			return err
		}
		results[i] = res
		bar.Add(1)
		return nil
	})
	bar.Finish()
	if err != nil {
		return nil, err
	}

	w, err := dataset.Create[dataset.Comparison](opts.Out, dataset.WriterOptions{
		Meta: map[string]string{"source": "rlhf judge", "model": opts.Model, "base_url": opts.BaseURL},
	})
	if err != nil {
		return nil, err
	}
	defer w.Abort()
	rep := &j.rep
	rep.Groups = len(items)
	for i, res := range results {
		if res.bad {
			rep.Unparseable++
			continue
		}
		rep.Pairs += res.pairs
		rep.Consistent += res.consistent
		if len(res.rows) > 0 {
			if err := w.Write(res.rows...); err != nil {
				return nil, err
			}
		}
		if g, ok := gold[items[i].GroupID]; ok {
			agree, total := goldAgreement(items[i], res.rows, g.Ranks)
			rep.GoldAgree += agree
			rep.GoldPairs += total
		}
	}
	rep.Rows = w.Rows()
	if err := w.Close(); err != nil {
		return nil, err
	}
	slog.Info("judge: done", "out", opts.Out, "groups", rep.Groups, "rows", rep.Rows, "requests", rep.Requests,
		"cache_hits", rep.CacheHits, "unparseable", rep.Unparseable, "position_consistency", rep.Consistency())
	if gold != nil {
		slog.Info("judge: agreement with human gold", "agreement", rep.GoldAgreement(), "gold_pairs", rep.GoldPairs)
	}
	return rep, nil
}

// goldAgreement counts the written pairs of a group that gold orders
// strictly, and those it orders the same way.
func goldAgreement(it *label.Item, rows []dataset.Comparison, gold label.Ranking) (agree, total int) {
	idOf := map[string]string{}
	for _, a := range it.Answers {
		idOf[a.Text] = a.ID
	}
	for _, r := range rows {
		c, rj := gold[idOf[r.Chosen]], gold[idOf[r.Rejected]]
		if c == 0 || rj == 0 || c == rj {
			continue
		}
		total++
		if c < rj {
			agree++
		}
	}
	return agree, total
}

// BuiltinRubric returns the built-in rubric template of a language (en or
// zh), to print and edit for --rubric.
func BuiltinRubric(lang string) (string, error) {
	raw, err := rubrics.ReadFile("rubric_" + lang + ".tmpl")
	if err != nil {
		return "", fmt.Errorf("no built-in rubric for language %q: want en or zh", lang)
	}
	return string(raw), nil
}
