package prompts

import (
	"strings"
)

// readDureader reads DuReader style JSONL (question, documents[].paragraphs,
// optional documents[].most_related_para, answers[]). Native tasks:
// closed_qa (with the most related paragraph as context) and open_qa when
// documents are present, open_qa otherwise. Fields: question, answer,
// context, content (the answer). Column options:
// question=, answers=, documents=.
func readDureader(s *Source, emit func(Example) error, bad func(string, error)) error {
	qc, ac, dc := s.col("question", "question"), s.col("answers", "answers"), s.col("documents", "documents")
	return eachRecord(s, func(pos string, r record) error {
		q := r.str(qc)
		ans, _, _ := strings.Cut(r.str(ac, "answer"), ListSep)
		if q == "" || ans == "" {
			bad(pos, malformed("want %q and a non-empty %q", qc, ac))
			return nil
		}
		ex := Example{Pos: pos, Tasks: []string{"open_qa"}, Fields: map[string]string{
			"question": q, "answer": ans, "content": ans,
		}}
		if docs, ok := r.get(dc).([]any); ok {
			for _, d := range docs {
				dm, ok := d.(map[string]any)
				if !ok {
					continue
				}
				paras, _ := dm["paragraphs"].([]any)
				idx := 0
				if f, ok := dm["most_related_para"].(float64); ok && int(f) < len(paras) && f >= 0 {
					idx = int(f)
				}
				if idx < len(paras) {
					if c := toString(paras[idx]); c != "" {
						ex.Fields["context"] = c
						ex.Tasks = []string{"closed_qa", "open_qa"}
						break
					}
				}
			}
		}
		return emit(ex)
	}, bad)
}
