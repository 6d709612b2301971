package label

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/option"
)

// GoldRow is one line of a gold file (`rlhf label gold --from FILE`, JSONL):
// the prompt_id of an item and either ranks (response id → 1-based rank,
// equal ranks for ties) or order (response ids, best first, no ties).
type GoldRow struct {
	PromptID string   `json:"prompt_id"`
	Ranks    Ranking  `json:"ranks,omitempty"`
	Order    []string `json:"order,omitempty"`
}

// ImportGold reads a gold file and appends one gold submission per line,
// recorded as set by `by`. Every line is checked before anything is
// written, so a bad file changes nothing.
func (s *Store) ImportGold(path, by string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, option.Errorf("{From}: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var subs []Submission
	line := 0
	for sc.Scan() {
		line++
		if err := dataset.CheckUTF8Line(path, line, sc.Bytes()); err != nil {
			return 0, err
		}
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var row GoldRow
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&row); err != nil {
			return 0, fmt.Errorf("%s:%d: want {\"prompt_id\": ..., \"ranks\": {...}} or {\"prompt_id\": ..., \"order\": [...]}: %w", path, line, err)
		}
		r := row.Ranks
		if len(row.Order) > 0 {
			if len(r) > 0 {
				return 0, fmt.Errorf("%s:%d: give ranks or order, not both", path, line)
			}
			r = Ranking{}
			for i, id := range row.Order {
				r[id] = i + 1
			}
		}
		it, err := s.Item(row.PromptID)
		if err != nil {
			return 0, fmt.Errorf("%s:%d: %w (load the responses first)", path, line, err)
		}
		if r, err = CheckRanking(it, r); err != nil {
			return 0, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		subs = append(subs, Submission{Labeler: by, GroupID: row.PromptID, Kind: KindGold, Ranks: r})
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	for i, sub := range subs {
		if _, err := s.Append(sub); err != nil {
			return i, err
		}
	}
	return len(subs), nil
}
