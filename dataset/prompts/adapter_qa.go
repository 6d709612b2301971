package prompts

import (
	"errors"
	"io"
	"strings"

	"github.com/rlhf-project/rlhf/dataset"
)

// readQA reads the qa datasets written by `rlhf scrape` (Parquet dataset
// directories, or JSONL with the same field names) through dataset.Open.
// Native task: the row's category when it is a task name (e.g.
// brainstorming), else the source's task=, else open_qa. Fields: question, answer, context, title,
// topic (the title) and content (the answer), so generative
// templates can ask for an essay, a list of ideas or a title.
func readQA(s *Source, emit func(Example) error, bad func(pos string, err error)) error {
	r, err := dataset.OpenWith[dataset.QA](dataset.ReaderOptions{Encoding: s.Encoding}, s.Path)
	if err != nil {
		return err
	}
	defer r.Close()
	lastBad := ""
	for {
		q, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if dataset.IsInvalidUTF8(err) {
			return err
		}
		if err != nil {
			pos := r.Position()
			// A JSONL line that does not decode is reported by its position
			// and the reader moves on; any other error (a damaged Parquet
			// shard) stops the build.
			if !strings.Contains(pos, ".jsonl") && !strings.Contains(pos, ".json") || pos == lastBad {
				return err
			}
			lastBad = pos
			bad(pos, errors.Join(errMalformed, err))
			continue
		}
		ex := Example{Pos: r.Position(), Fields: map[string]string{
			"question": strings.TrimSpace(q.Question),
			"answer":   strings.TrimSpace(q.Answer),
			"context":  strings.TrimSpace(q.Context),
			"title":    strings.TrimSpace(q.Title),
			"content":  strings.TrimSpace(q.Answer),
		}}
		ex.Fields["topic"] = ex.Fields["title"]
		if q.Lang == "zh" || q.Lang == "en" {
			ex.Lang = q.Lang
		}
		if ex.Fields["question"] == "" || ex.Fields["answer"] == "" {
			bad(ex.Pos, malformed("qa row without question or answer"))
			continue
		}
		task := s.Task
		if task == "" {
			task = "open_qa"
		}
		if dataset.IsTask(q.Category) {
			task = q.Category
		}
		ex.Tasks = []string{task}
		if err := emit(ex); err != nil {
			return err
		}
	}
}
