package prompts

import (
	"encoding/json"
	"strings"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/option"
)

// readChat reads conversational data, JSONL(.gz) or Parquet: rows of the
// sft kind's formats ("messages" lists of role/content messages, ShareGPT
// "conversations", Alpaca instruction/input/output, or prompt/response),
// converted by the sft reader's function (dataset.DecodeSFTJSON), so a
// system message and earlier turns are kept as the prompt row's history.
// The task is the row's category (category= column; mapped as by the
// instruction adapter, categories= adds to the map), else the source's
// task=, else chat. Fields: user (the last user turn), answer (the final
// assistant answer) and conversation (the history, a JSON list of
// messages); the conversation templates keep the user turn as it is.
func readChat(s *Source, emit func(Example) error, bad func(string, error)) error {
	cats, err := categoryMap(s)
	if err != nil {
		return err
	}
	cc := s.col("category", "category")
	files, err := s.files()
	if err != nil {
		return err
	}
	for _, p := range files {
		err := dataset.EachJSONRow(p, s.Encoding, func(pos string, text []byte) error {
			row, err := dataset.DecodeSFTJSON(text)
			if err != nil {
				bad(pos, malformed("%v", err))
				return nil
			}
			if strings.TrimSpace(row.Prompt) == "" || strings.TrimSpace(row.Response) == "" {
				bad(pos, malformed("want a conversation with a user turn and an assistant answer"))
				return nil
			}
			var r record
			if err := json.Unmarshal(text, &r); err != nil {
				bad(pos, malformed("not a JSON object: %v", err))
				return nil
			}
			task := taskOf(s, cats, r.str(cc), "chat")
			return emit(Example{Pos: pos, Tasks: []string{task}, Fields: map[string]string{
				"user": row.Prompt, "answer": row.Response, "conversation": row.History,
			}})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// taskOf is a row's task: its category mapped by cats, else the source's
// task=, else fallback.
func taskOf(s *Source, cats map[string]string, category, fallback string) string {
	if t, ok := cats[strings.ToLower(category)]; ok && category != "" {
		return t
	}
	if s.Task != "" {
		return s.Task
	}
	return fallback
}

// categoryMap is the category-to-task map of a source: the built-in one
// and its categories= option.
func categoryMap(s *Source) (map[string]string, error) {
	cats := map[string]string{}
	for k, v := range defaultCategories {
		cats[k] = v
	}
	if v := s.Opts["categories"]; v != "" {
		for _, kv := range strings.Split(v, "|") {
			k, t, ok := strings.Cut(kv, ":")
			if !ok || !dataset.IsTask(t) {
				return nil, option.Errorf("{Sources} %q: categories=%q: want category:task|... with tasks among %s", s.Spec, v, strings.Join(dataset.Tasks, ", "))
			}
			cats[strings.ToLower(k)] = t
		}
	}
	return cats, nil
}
