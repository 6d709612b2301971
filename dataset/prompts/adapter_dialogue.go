package prompts

import (
	"encoding/json"
	"strings"
)

// readDialogue reads dialogues, one per line: a JSON array of utterances
// (LCCC), a JSON object holding the array under dialog, conversation,
// utterances or content (or the turns= column), or plain text with turns
// separated by __eou__ (DailyDialog). Native task: chat, with the last turn
// as the response. Fields: history (the earlier turns, ListSep-separated),
// reply. Lines with fewer than two turns are malformed.
func readDialogue(s *Source, emit func(Example) error, bad func(string, error)) error {
	turnCols := []string{"dialog", "conversation", "utterances", "content", "turns"}
	if c := s.Opts["turns"]; c != "" {
		turnCols = []string{c}
	}
	return eachLine(s, func(pos string, line []byte) error {
		var turns []string
		switch line[0] {
		case '[':
			var arr []any
			if err := json.Unmarshal(line, &arr); err != nil {
				bad(pos, malformed("not a JSON array of utterances: %v", err))
				return nil
			}
			turns = cleanTurns(toString(arr))
		case '{':
			var r record
			if err := json.Unmarshal(line, &r); err != nil {
				bad(pos, malformed("not a JSON object: %v", err))
				return nil
			}
			for _, c := range turnCols {
				if arr, ok := r.get(c).([]any); ok {
					turns = cleanTurns(dialogueTurns(arr))
					break
				}
			}
		default:
			turns = cleanTurns(strings.ReplaceAll(string(line), "__eou__", ListSep))
		}
		if len(turns) < 2 {
			bad(pos, malformed("want a dialogue of at least two turns"))
			return nil
		}
		return emit(Example{Pos: pos, Tasks: []string{"chat"}, Fields: map[string]string{
			"history": strings.Join(turns[:len(turns)-1], ListSep), "reply": turns[len(turns)-1],
		}})
	})
}

// dialogueTurns accepts turns as strings or as {text|content|value: ...}
// objects (ShareGPT-like).
func dialogueTurns(arr []any) string {
	parts := make([]string, 0, len(arr))
	for _, t := range arr {
		if m, ok := t.(map[string]any); ok {
			parts = append(parts, record(m).str("text", "content", "value", "utterance"))
			continue
		}
		parts = append(parts, toString(t))
	}
	return strings.Join(parts, ListSep)
}

func cleanTurns(joined string) []string {
	var out []string
	for _, t := range strings.Split(joined, ListSep) {
		// LCCC tokenises Chinese with spaces between words; drop them.
		t = strings.TrimSpace(t)
		if hasCJK(t) {
			t = squeezeCJKSpaces(t)
		}
		if t != "" {
			out = append(out, t)
		}
	}
	return out
}
