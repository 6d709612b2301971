package prompts

import "github.com/rlhf-project/rlhf/dataset"

// Options configure Run (the flags of `rlhf build-prompts`).
type Options struct {
	// Sources are the --source values: [task=]adapter:path[?field=column,...].
	Sources []string
	// Mix is instructgpt (default), uniform, natural or a YAML file of task
	// weights.
	Mix string
	// Total is the number of rows to produce (train + val). Default 100,000.
	Total int64
	// Out is the output directory: OUT/prompts/{train,val},
	// OUT/sft/{train,val}, OUT/report.md, OUT/report.json.
	Out string
	// Pools splits the rows, by prompt, into disjoint pools (the --pools
	// value, such as "sft=0.2,rm=0.4,ppo=0.4"; see ParsePools), each written
	// as OUT/POOL/prompts/{train,val} and OUT/POOL/sft/{train,val} in place
	// of OUT/prompts and OUT/sft, with a held-out eval pool. Empty: no pools.
	Pools string
	// Seed drives every random choice (sampling, templates, split, order):
	// same inputs and seed give byte-identical shards and reports. Default 1.
	Seed int64
	// ValFrac is the share of each task's rows put in val (the flag's
	// default is 0.02; 0 leaves val empty).
	ValFrac float64
	// MaxRepeat is how many times, at most, a task short of distinct
	// candidates may use each candidate (each repetition with another
	// template). 1 (default) means no repetition: the shortfall is
	// renormalised over the other tasks.
	MaxRepeat float64
	// MaxPerSource caps the rows a source may contribute to one task
	// (FLAN-style examples-proportional mixing with a cap); 0 means no cap.
	// A source's own max= option overrides it.
	MaxPerSource int64
	// Templates is a directory of *.yaml template files added to the
	// embedded bank (a template with an existing id replaces it).
	Templates string
	// TemplatesOnly drops the embedded bank: only Templates is used.
	TemplatesOnly bool
	// Langs are the languages kept (language filter). Default zh and en.
	Langs []string
	// NoDerive turns off the generative templates that derive generation,
	// brainstorming and other rows from sources of other tasks.
	NoDerive bool
	// MinPromptChars / MaxPromptChars bound the prompt length in characters
	// (runes). Defaults 4 and 2,048.
	MinPromptChars, MaxPromptChars int
	// MinResponseChars / MaxResponseChars bound the response length in
	// characters. Defaults 1 and 4,096.
	MinResponseChars, MaxResponseChars int
	// NearDup is the estimated Jaccard similarity (of character 2-grams for
	// Chinese, word 2-grams for English) from which two rows of one task are
	// near-duplicates and the later one (in sampling order) is dropped.
	// Default 0.7; a negative value turns near-duplicate removal off.
	NearDup float64
	// Oversample is the factor of extra candidates kept per (task, source)
	// so that rows lost to duplicate removal can be replaced. Default 1.15.
	Oversample float64
	// RowsPerShard is passed to the dataset writer. Default 100,000.
	RowsPerShard int64
	// MaxBadReported is how many malformed records are logged per source
	// (all are counted). Default 20.
	MaxBadReported int
	// Encoding is the character encoding of the text sources (JSONL, JSON,
	// CSV, TSV, BIO): UTF-8 by default, where a line that is not valid UTF-8
	// stops the build with its file and line; GBK, GB18030 or Big5 are
	// decoded. A source's encoding= option overrides it.
	Encoding dataset.Encoding
}

func (o *Options) defaults() {
	if o.Mix == "" {
		o.Mix = "instructgpt"
	}
	if o.Total == 0 {
		o.Total = 100_000
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.MaxRepeat == 0 {
		o.MaxRepeat = 1
	}
	if len(o.Langs) == 0 {
		o.Langs = []string{"zh", "en"}
	}
	if o.MinPromptChars == 0 {
		o.MinPromptChars = 4
	}
	if o.MaxPromptChars == 0 {
		o.MaxPromptChars = 2048
	}
	if o.MinResponseChars == 0 {
		o.MinResponseChars = 1
	}
	if o.MaxResponseChars == 0 {
		o.MaxResponseChars = 4096
	}
	if o.NearDup == 0 {
		o.NearDup = 0.7
	}
	if o.Oversample < 1 {
		o.Oversample = 1.15
	}
	if o.MaxBadReported == 0 {
		o.MaxBadReported = 20
	}
}
