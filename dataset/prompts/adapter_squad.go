package prompts

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/rlhf-project/rlhf/dataset"
)

// readSquad reads SQuAD / CMRC2018 style JSON (data[].paragraphs[].context,
// qas[].question, answers[].text), streaming one article at a time, or the
// flattened JSONL of Hugging Face exports (context, question,
// answers.text[]). Native tasks: closed_qa and extract. Fields: context,
// question, answer, title. Column options: context=, question=, answers=.
func readSquad(s *Source, emit func(Example) error, bad func(pos string, err error)) error {
	files, err := s.files()
	if err != nil {
		return err
	}
	for _, p := range files {
		if inputFormat(s, p) == "jsonl" {
			one := *s
			one.Path = p
			err = eachRecord(&one, func(pos string, r record) error {
				ans := r.str(s.col("answers", "answers")+".text", s.col("answers", "answers"), "answer")
				ans, _, _ = strings.Cut(ans, ListSep)
				return emitSquad(emit, bad, pos, r.str(s.col("context", "context")), r.str(s.col("question", "question")), ans, r.str("title"))
			}, bad)
		} else {
			err = readSquadJSON(s, p, emit, bad)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func emitSquad(emit func(Example) error, bad func(string, error), pos, ctx, q, ans, title string) error {
	if ctx == "" || q == "" || ans == "" {
		bad(pos, malformed("want context, question and an answer"))
		return nil
	}
	return emit(Example{Pos: pos, Tasks: []string{"closed_qa", "extract"}, Fields: map[string]string{
		"context": ctx, "question": q, "answer": ans, "title": title,
	}})
}

type squadArticle struct {
	Title      string `json:"title"`
	Paragraphs []struct {
		Context string `json:"context"`
		QAs     []struct {
			ID           string `json:"id"`
			Question     string `json:"question"`
			IsImpossible bool   `json:"is_impossible"`
			Answers      []struct {
				Text string `json:"text"`
			} `json:"answers"`
		} `json:"qas"`
	} `json:"paragraphs"`
}

func readSquadJSON(s *Source, path string, emit func(Example) error, bad func(string, error)) error {
	in, err := dataset.OpenTextAs(path, s.Encoding)
	if err != nil {
		return err
	}
	defer in.Close()
	dec := json.NewDecoder(in)
	// fail wraps a read error with the file name; a text that is not UTF-8
	// names its own file and line.
	fail := func(err error) error {
		if dataset.IsInvalidUTF8(err) {
			return err
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	// Walk to the "data" array of the top-level object.
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		if dataset.IsInvalidUTF8(err) {
			return err
		}
		return fmt.Errorf("%s: want a SQuAD JSON object {\"data\": [...]}", path)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fail(err)
		}
		if key, _ := t.(string); key != "data" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fail(err)
			}
			continue
		}
		if t, err := dec.Token(); err != nil || t != json.Delim('[') {
			if dataset.IsInvalidUTF8(err) {
				return err
			}
			return fmt.Errorf("%s: \"data\" is not an array", path)
		}
		for i := 1; dec.More(); i++ {
			var a squadArticle
			pos := fmt.Sprintf("%s: data[%d]", path, i-1)
			if err := dec.Decode(&a); err != nil {
				if dataset.IsInvalidUTF8(err) {
					return err
				}
				if _, ok := err.(*json.SyntaxError); ok || err == io.ErrUnexpectedEOF {
					bad(pos, malformed("%v", err))
					return nil
				}
				bad(pos, malformed("%v", err))
				continue
			}
			for pi, para := range a.Paragraphs {
				for qi, qa := range para.QAs {
					if qa.IsImpossible || len(qa.Answers) == 0 {
						continue
					}
					qpos := fmt.Sprintf("%s.paragraphs[%d].qas[%d]", pos, pi, qi)
					if err := emitSquad(emit, bad, qpos, strings.TrimSpace(para.Context), strings.TrimSpace(qa.Question), strings.TrimSpace(qa.Answers[0].Text), a.Title); err != nil {
						return err
					}
				}
			}
		}
		if _, err := dec.Token(); err != nil {
			return fail(err)
		}
	}
	return nil
}
