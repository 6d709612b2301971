package scrape

import (
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// votesRE finds a number with an optional magnitude: "赞同 1.2 万",
// "1,024", "3.4K".
var votesRE = regexp.MustCompile(`(\d[\d,]*(?:\.\d+)?)\s*(万|亿|[kKmM])?`)

// ParseVotes reads an up-vote label: "赞同 1.2 万" = 12000, "赞同 345" = 345,
// "1.5K" = 1500. ok is false when the label holds no number.
func ParseVotes(label string) (n int64, ok bool) {
	m := votesRE.FindStringSubmatch(label)
	if m == nil {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(m[1], ",", ""), 64)
	if err != nil {
		return 0, false
	}
	switch m[2] {
	case "万":
		f *= 1e4
	case "亿":
		f *= 1e8
	case "k", "K":
		f *= 1e3
	case "m", "M":
		f *= 1e6
	}
	return int64(f + 0.5), true
}

// zhihuInitialData is the part of Zhihu's script#js-initialData we read.
type zhihuInitialData struct {
	InitialState struct {
		Entities struct {
			Questions map[string]struct {
				Title  string `json:"title"`
				Detail string `json:"detail"`
			} `json:"questions"`
			Answers map[string]struct {
				Content     string `json:"content"`
				VoteupCount *int64 `json:"voteupCount"`
				Question    struct {
					ID json.RawMessage `json:"id"`
				} `json:"question"`
			} `json:"answers"`
		} `json:"entities"`
	} `json:"initialState"`
}

var questionIDRE = regexp.MustCompile(`/question/(\d+)`)

// zhihuEmbedded reads the question and its answers from the page's embedded
// JSON (the text of script#js-initialData). It returns an empty question when the script is missing or holds no
// answers, so the caller falls back to the DOM.
func zhihuEmbedded(raw, pageURL string) (question, context string, answers []answer) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", "", nil
	}
	var d zhihuInitialData
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		return "", "", nil
	}
	ents := d.InitialState.Entities
	qid := ""
	if m := questionIDRE.FindStringSubmatch(pageURL); m != nil {
		qid = m[1]
	}
	q, ok := ents.Questions[qid]
	if !ok && len(ents.Questions) == 1 {
		for id, only := range ents.Questions {
			qid, q, ok = id, only, true
		}
	}
	if !ok {
		return "", "", nil
	}
	ids := make([]string, 0, len(ents.Answers))
	for id := range ents.Answers {
		ids = append(ids, id)
	}
	sort.Strings(ids) // map order is random; rows must come out the same each run
	for _, id := range ids {
		a := ents.Answers[id]
		if aq := strings.Trim(string(a.Question.ID), `"`); aq != "" && aq != qid {
			continue
		}
		answers = append(answers, answer{text: htmlFragmentText(a.Content), votes: a.VoteupCount})
	}
	return cleanText(q.Title), htmlFragmentText(q.Detail), answers
}
