package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// Kind names a record type; it is stored in the manifest.
type Kind string

// The record kinds.
const (
	KindQA         Kind = "qa"
	KindPrompt     Kind = "prompt"
	KindSFT        Kind = "sft"
	KindComparison Kind = "comparison"
	KindResponse   Kind = "response"
)

// SchemaVersion is the version of the record schemas below, stored in every
// manifest. Bump it when a column changes meaning or type.
const SchemaVersion = 1

// Tasks are the ten InstructGPT use-case categories, in the order of the
// InstructGPT API distribution table.
var Tasks = []string{
	"generation", "open_qa", "brainstorming", "chat", "rewrite",
	"summarization", "classification", "other", "closed_qa", "extract",
}

// IsTask reports whether t is one of Tasks.
func IsTask(t string) bool {
	for _, x := range Tasks {
		if x == t {
			return true
		}
	}
	return false
}

// Record is implemented by every record type.
//
// Struct tags: `parquet` names the column, `json` the JSONL field, and
// `rlhf` holds comma-separated options: "text" marks a free-text column,
// for which the writer keeps no min/max statistics (they cost a comparison
// per value, copy whole texts into page headers, and help no query);
// "missing-ok" marks a column added after schema version 1 that files
// written before it lack: readers then give the zero value (writers always
// write it). Adding such a column needs no schema version bump, since older
// readers ignore extra columns.
type Record interface {
	// Kind is the record kind stored in the manifest.
	Kind() Kind
	// Key returns the content the id is derived from.
	Key() []string
	// recordID returns the id field; records are this package's types.
	recordID() string
}

// ContentID returns a stable id: the first 16 bytes of the SHA-256 of the
// parts (separated by a unit separator), in hex.
func ContentID(parts ...string) string {
	h := sha256.New()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0x1f})
		}
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// SHA256Hex is the full hex SHA-256 of s (the qa content_sha256 column).
func SHA256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// QA is an open-QA pair collected by scrape.
type QA struct {
	ID       string `parquet:"id" json:"id"`
	Site     string `parquet:"site,dict" json:"site"`
	URL      string `parquet:"url" json:"url"`
	Title    string `parquet:"title" json:"title"`
	Question string `parquet:"question" json:"question" rlhf:"text"`
	Context  string `parquet:"context" json:"context" rlhf:"text"`
	Answer   string `parquet:"answer" json:"answer" rlhf:"text"`
	// Votes is the up-vote count of the answer; nil where the site has none.
	Votes    *int64 `parquet:"votes,optional" json:"votes"`
	Category string `parquet:"category,dict" json:"category"`
	Lang     string `parquet:"lang,dict" json:"lang"`
	// FetchedAt is when the page was fetched, in UTC.
	FetchedAt     time.Time `parquet:"fetched_at,timestamp(microsecond)" json:"fetched_at"`
	ContentSHA256 string    `parquet:"content_sha256" json:"content_sha256"`
}

func (QA) Kind() Kind         { return KindQA }
func (r QA) recordID() string { return r.ID }
func (r QA) Key() []string    { return []string{r.URL, r.Question, r.Answer} }

// Prompt is an instruction prompt for PPO.
type Prompt struct {
	ID       string `parquet:"id" json:"id"`
	Task     string `parquet:"task,dict" json:"task"`
	Lang     string `parquet:"lang,dict" json:"lang"`
	Prompt   string `parquet:"prompt" json:"prompt" rlhf:"text"`
	Source   string `parquet:"source,dict" json:"source"`
	Template string `parquet:"template,dict" json:"template"`
	// Reference is the checkable answer of rows that have one (closed_qa
	// and extract rows built by build-prompts), for rule rewards; empty
	// otherwise. Files written before the column existed read as empty.
	Reference string `parquet:"reference" json:"reference" rlhf:"text,missing-ok"`
	// History is the conversation before Prompt (a system message and
	// earlier user/assistant turns) as a JSON list of {"role", "content"}
	// messages; empty for a single-turn prompt (and in files written before
	// the column existed). See DecodeHistory and EncodeHistory.
	History string `parquet:"history" json:"history,omitempty" rlhf:"text,missing-ok"`
}

func (Prompt) Kind() Kind         { return KindPrompt }
func (r Prompt) recordID() string { return r.ID }
func (r Prompt) Key() []string    { return withHistory([]string{r.Task, r.Prompt}, r.History) }

// SFT is a demonstration: a prompt and the reference response.
type SFT struct {
	ID       string `parquet:"id" json:"id"`
	Task     string `parquet:"task,dict" json:"task"`
	Lang     string `parquet:"lang,dict" json:"lang"`
	Prompt   string `parquet:"prompt" json:"prompt" rlhf:"text"`
	Response string `parquet:"response" json:"response" rlhf:"text"`
	Source   string `parquet:"source,dict" json:"source"`
	Template string `parquet:"template,dict" json:"template"`
	// History is the conversation before Prompt (system message, earlier
	// turns) as a JSON list of messages; empty for a single-turn row.
	History string `parquet:"history" json:"history,omitempty" rlhf:"text,missing-ok"`
}

func (SFT) Kind() Kind         { return KindSFT }
func (r SFT) recordID() string { return r.ID }
func (r SFT) Key() []string {
	return withHistory([]string{r.Task, r.Prompt, r.Response}, r.History)
}

// Comparison is one preference pair for the reward model. Rows sharing a
// GroupID come from one prompt ranked among K answers; ranks are 1-based,
// 1 is best (ChosenRank < RejectedRank). Plain pairs leave GroupID empty
// and the ranks 0.
type Comparison struct {
	ID           string `parquet:"id" json:"id"`
	GroupID      string `parquet:"group_id" json:"group_id"`
	Prompt       string `parquet:"prompt" json:"prompt" rlhf:"text"`
	Chosen       string `parquet:"chosen" json:"chosen" rlhf:"text"`
	Rejected     string `parquet:"rejected" json:"rejected" rlhf:"text"`
	ChosenRank   int32  `parquet:"chosen_rank" json:"chosen_rank"`
	RejectedRank int32  `parquet:"rejected_rank" json:"rejected_rank"`
	Task         string `parquet:"task,dict" json:"task"`
	Lang         string `parquet:"lang,dict" json:"lang"`
	Source       string `parquet:"source,dict" json:"source"`
	// History is the conversation before Prompt that both answers share
	// (system message, earlier turns) as a JSON list of messages; empty for
	// a single-turn pair.
	History string `parquet:"history" json:"history,omitempty" rlhf:"text,missing-ok"`
}

func (Comparison) Kind() Kind         { return KindComparison }
func (r Comparison) recordID() string { return r.ID }
func (r Comparison) Key() []string {
	return withHistory([]string{r.GroupID, r.Prompt, r.Chosen, r.Rejected, r.Source}, r.History)
}

// Response is a sampled answer to a prompt, for labelling and evaluation.
type Response struct {
	ID          string `parquet:"id" json:"id"`
	PromptID    string `parquet:"prompt_id" json:"prompt_id"`
	Prompt      string `parquet:"prompt" json:"prompt" rlhf:"text"`
	Response    string `parquet:"response" json:"response" rlhf:"text"`
	Model       string `parquet:"model,dict" json:"model"`
	SampleIndex int32  `parquet:"sample_index" json:"sample_index"`
	// Logprob is the summed log-probability of the response tokens.
	Logprob float64 `parquet:"logprob" json:"logprob"`
	// NumTokens is the number of response tokens (0 when unknown).
	NumTokens int32 `parquet:"num_tokens" json:"num_tokens"`
	// Reward is the reward-model score, nil when not scored.
	Reward *float64 `parquet:"reward,optional" json:"reward"`
	// History is the conversation before Prompt (the prompt row's
	// history), as a JSON list of messages; empty for a single-turn prompt.
	History string `parquet:"history" json:"history,omitempty" rlhf:"text,missing-ok"`
}

func (Response) Kind() Kind         { return KindResponse }
func (r Response) recordID() string { return r.ID }
func (r Response) Key() []string {
	return withHistory([]string{r.PromptID, r.Prompt, r.Response, r.Model, fmt.Sprint(r.SampleIndex)}, r.History)
}

// withHistory appends a non-empty history to a key; single-turn rows keep
// the ids they had before the history column existed.
func withHistory(key []string, history string) []string {
	if history == "" {
		return key
	}
	return append(key, history)
}

// WithID returns r with its ID set from its content when it is empty.
func WithID[T Record](r T) T {
	if r.recordID() != "" {
		return r
	}
	return withContentID(r)
}

// withContentID sets the id from the content. It is apart from WithID
// because taking r's address moves r to the heap, which WithID, called for
// every row written, must not pay when the id is already set.
func withContentID[T Record](r T) T {
	if id := idOf(&r); *id == "" {
		*id = ContentID(r.Key()...)
	}
	return r
}

// idOf returns a pointer to the ID field of a record.
func idOf(r any) *string {
	switch v := r.(type) {
	case *QA:
		return &v.ID
	case *Prompt:
		return &v.ID
	case *SFT:
		return &v.ID
	case *Comparison:
		return &v.ID
	case *Response:
		return &v.ID
	}
	panic(fmt.Sprintf("dataset: %T is not a record type", r))
}

// KindOf returns the kind of record type T.
func KindOf[T Record]() Kind {
	var zero T
	return zero.Kind()
}
