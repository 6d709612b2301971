package dataset

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestTextsOfConversations: the texts a tokenizer trains on include every
// turn of conversational rows (messages, ShareGPT, TRL lists, a history,
// Alpaca fields) in JSONL, hub Parquet and datasets with a history column.
func TestTextsOfConversations(t *testing.T) {
	jl := writeJSONL(t, "conv.jsonl.gz",
		`{"messages": [{"role": "system", "content": "S1"}, {"role": "user", "content": "U1"}, {"role": "assistant", "content": "A1"}]}`,
		`{"conversations": [{"from": "human", "value": "U2"}, {"from": "gpt", "value": "A2"}]}`,
		`{"prompt": [{"role": "user", "content": "U3"}], "chosen": [{"role": "assistant", "content": "C3"}], "rejected": [{"role": "assistant", "content": "R3"}]}`,
		`{"prompt": "U4", "response": "A4", "history": "[{\"role\":\"system\",\"content\":\"S4\"}]"}`,
		`{"instruction": "I5", "input": "N5", "output": "O5"}`,
	)
	pq := writeParquetRows(t, "conv.parquet", []hubSFTRow{{Messages: []hubMessage{{"system", "S6"}, {"user", "U6"}, {"assistant", "A6"}}}})
	dir := filepath.Join(t.TempDir(), "sft")
	writeAll(t, dir, WriterOptions{}, []SFT{{Prompt: "U7", Response: "A7", History: EncodeHistory([]Message{{"system", "S7"}, {"user", "U0"}, {"assistant", "A0"}})}})
	var got []string
	if err := Texts([]string{jl, pq, dir}, "")(func(s string) { got = append(got, s) }); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"S1", "U1", "A1", "U2", "A2", "U3", "C3", "R3", "U4", "A4", "S4", "I5", "N5", "O5", "S6", "U6", "A6", "S7", "U0", "A0", "U7", "A7"} {
		if !slices.Contains(got, w) {
			t.Errorf("%q not among the texts %q", w, got)
		}
	}
}
