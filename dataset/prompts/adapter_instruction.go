package prompts

// defaultCategories maps the categories of public instruction sets (Dolly,
// BELLE, Alpaca-CoT style) to tasks; task names map to themselves.
var defaultCategories = map[string]string{
	"open_qa": "open_qa", "general_qa": "open_qa", "closed_qa": "closed_qa",
	"classification": "classification", "information_extraction": "extract",
	"extraction": "extract", "summarization": "summarization", "brainstorming": "brainstorming",
	"creative_writing": "generation", "generation": "generation", "chat": "chat",
	"rewrite": "rewrite", "translation": "rewrite", "other": "other", "extract": "extract",
	"openqa": "open_qa", "closedqa": "closed_qa", "math": "other", "code": "other",
}

// readInstruction reads generic instruction data (Alpaca, BELLE, Dolly):
// JSONL or a JSON array with instruction, input (or context), output (or
// response) and an optional category. The task is the category mapped by
// categories= ("cat:task|cat:task", added to the built-in Dolly/BELLE map),
// else the source's task=, else other. Fields: instruction, input, output.
// Column options: instruction=, input=, output=, category=.
func readInstruction(s *Source, emit func(Example) error, bad func(string, error)) error {
	cats, err := categoryMap(s)
	if err != nil {
		return err
	}
	ic, inc, oc, cc := s.col("instruction", "instruction"), s.col("input", "input"), s.col("output", "output"), s.col("category", "category")
	return eachRecord(s, func(pos string, r record) error {
		ins, out := r.str(ic, "prompt"), r.str(oc, "response")
		if ins == "" || out == "" {
			bad(pos, malformed("want %q and %q", ic, oc))
			return nil
		}
		task := taskOf(s, cats, r.str(cc), "other")
		return emit(Example{Pos: pos, Tasks: []string{task}, Fields: map[string]string{
			"instruction": ins, "input": r.str(inc, "context"), "output": out,
		}})
	}, bad)
}
