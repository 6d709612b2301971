package dataset

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// writeJSONL writes lines as a JSONL file (gzipped when name ends in .gz).
func writeJSONL(t *testing.T, name string, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	data := []byte(strings.Join(lines, "\n") + "\n")
	if strings.HasSuffix(name, ".gz") {
		var b bytes.Buffer
		z := gzip.NewWriter(&b)
		z.Write(data)
		z.Close()
		data = b.Bytes()
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSFTConversationalFormats: the sft kind reads, row by row, plain
// prompt/response rows, messages, ShareGPT and Alpaca (with and without
// input), from JSONL and JSONL.gz.
func TestSFTConversationalFormats(t *testing.T) {
	lines := []string{
		`{"prompt": "plain", "response": "row", "task": "chat"}`,
		`{"messages": [{"role": "user", "content": "What color is the sky?"}, {"role": "assistant", "content": "Blue."}]}`,
		`{"conversations": [{"from": "human", "value": "Hi there"}, {"from": "gpt", "value": "Hello!"}]}`,
		`{"instruction": "Translate to French.", "input": "cat", "output": "chat"}`,
		`{"instruction": "Name a colour.", "input": "", "output": "Red."}`,
		`{"instruction": "Name a fruit.", "output": "Apple."}`,
	}
	want := [][2]string{
		{"plain", "row"},
		{"What color is the sky?", "Blue."},
		{"Hi there", "Hello!"},
		{"Translate to French.\n\ncat", "chat"},
		{"Name a colour.", "Red."},
		{"Name a fruit.", "Apple."},
	}
	for _, name := range []string{"sft.jsonl", "sft.jsonl.gz"} {
		rows, err := ReadAll[SFT](writeJSONL(t, name, lines...))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(rows) != len(want) {
			t.Fatalf("%s: %d rows, want %d", name, len(rows), len(want))
		}
		for i, r := range rows {
			if r.Prompt != want[i][0] || r.Response != want[i][1] {
				t.Errorf("%s row %d: (%q, %q), want %q", name, i+1, r.Prompt, r.Response, want[i])
			}
			if r.ID == "" {
				t.Errorf("%s row %d: no id", name, i+1)
			}
		}
		if rows[0].Task != "chat" {
			t.Errorf("%s: plain row lost its task: %+v", name, rows[0])
		}
	}
}

// TestComparisonConversationalFormats: the comparison kind reads TRL's
// conversational preference rows, prompt explicit or implicit, beside plain
// string rows.
func TestComparisonConversationalFormats(t *testing.T) {
	p := writeJSONL(t, "pref.jsonl.gz",
		`{"prompt": "plain", "chosen": "yes", "rejected": "no"}`,
		`{"prompt": [{"role": "user", "content": "What color is the sky?"}], "chosen": [{"role": "assistant", "content": "Blue."}], "rejected": [{"role": "assistant", "content": "Green."}]}`,
		`{"chosen": [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "你好！"}], "rejected": [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "走开。"}]}`,
	)
	rows, err := ReadAll[Comparison](p)
	if err != nil {
		t.Fatal(err)
	}
	want := [][3]string{{"plain", "yes", "no"}, {"What color is the sky?", "Blue.", "Green."}, {"你好", "你好！", "走开。"}}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, r := range rows {
		if got := [3]string{r.Prompt, r.Chosen, r.Rejected}; got != want[i] {
			t.Errorf("row %d: %q, want %q", i+1, got, want[i])
		}
	}
}

// TestConversationalRefusals: malformed conversations are errors naming
// FILE:LINE and the reason.
func TestConversationalRefusals(t *testing.T) {
	okSFT := `{"prompt": "ok", "response": "fine"}`
	for _, c := range []struct{ row, want string }{
		{`{"messages": [{"role": "user", "content": "Hi"}, {"role": "system", "content": "Be brief."}, {"role": "assistant", "content": "Hello"}]}`,
			`"messages": want an optional system message, then user and assistant messages in turn`},
		{`{"messages": [{"role": "user", "content": "Hi"}, {"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Bye!"}]}`,
			`got [user, user, assistant]`},
		{`{"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}, {"from": "human", "value": "c"}]}`,
			`"conversations": want an optional system message, then user and assistant messages in turn, starting with a user message, ending with an assistant message; got [user, assistant, user]`},
		{`{"conversations": [{"from": "tool", "value": "a"}]}`, `turn 1 is from "tool"`},
		{`{"messages": [{"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Hi"}]}`,
			`got [assistant, user]`},
		{`{"messages": [{"content": "Hi"}]}`, `"messages": message 1 has no role`},
		{`{"instruction": "Do it."}`, `needs both "instruction" and "output"`},
		{`{"prompt": "p", "response": "r", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}`,
			`want one of them`},
		{`{"prompt": "p", "response": "r", "history": [{"role": "user", "content": "Hi"}]}`,
			`"history": want an optional system message, then user and assistant messages in turn`},
	} {
		p := writeJSONL(t, "sft.jsonl", okSFT, c.row)
		_, err := ReadAll[SFT](p)
		if err == nil || !strings.Contains(err.Error(), p+":2: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("sft %s: %v, want %s:2 and %q", c.row, err, p, c.want)
		}
	}
	okPair := `{"prompt": "ok", "chosen": "a", "rejected": "b"}`
	for _, c := range []struct{ row, want string }{
		{`{"prompt": [{"role": "user", "content": "Hi"}, {"role": "system", "content": "Be brief."}], "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}`,
			`"prompt": want an optional system message, then user and assistant messages in turn, starting with a user message, ending with a user message; message 2 is "system"`},
		{`{"prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}], "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}`,
			`"prompt": want an optional system message, then user and assistant messages in turn, starting with a user message, ending with a user message; got [user, assistant]`},
		{`{"chosen": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "a"}], "rejected": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "b"}]}`,
			"share no prompt"},
		{`{"prompt": [{"role": "user", "content": "Hi"}], "chosen": [{"role": "user", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}`,
			`"chosen": want one assistant message after the prompt, got [user]`},
		{`{"prompt": "Hi", "chosen": [{"role": "assistant", "content": "a"}], "rejected": "b"}`,
			`want both strings or both lists of messages`},
		{`{"prompt": 3, "chosen": "a", "rejected": "b"}`, `"prompt": want a string or a list of {"role", "content"} messages`},
	} {
		p := writeJSONL(t, "pref.jsonl", okPair, c.row)
		_, err := ReadAll[Comparison](p)
		if err == nil || !strings.Contains(err.Error(), p+":2: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("comparison %s: %v, want %s:2 and %q", c.row, err, p, c.want)
		}
	}
}

// TestMultiTurnConversations: system messages and earlier turns of
// messages, ShareGPT and TRL rows (explicit and implicit prompt) are kept
// in the history column, the last user turn is the prompt; the prompt kind
// reads conversations too; rows that differ only in their history get
// different ids.
func TestMultiTurnConversations(t *testing.T) {
	sys := Message{"system", "Be brief."}
	u1, a1 := Message{"user", "Hi"}, Message{"assistant", "Hello"}
	wantHistory := EncodeHistory([]Message{sys, u1, a1})
	if wantHistory != `[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]` {
		t.Fatalf("EncodeHistory: %s", wantHistory)
	}
	sft := writeJSONL(t, "sft.jsonl.gz",
		`{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Sky?"}, {"role": "assistant", "content": "Blue."}]}`,
		`{"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}, {"from": "human", "value": "Sky?"}, {"from": "gpt", "value": "Blue."}]}`,
		`{"prompt": "Sky?", "response": "Blue."}`,
		`{"prompt": "Sky?", "response": "Blue.", "history": "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Hello\"}]"}`,
	)
	rows, err := ReadAll[SFT](sft)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		h := wantHistory
		if i == 2 {
			h = ""
		}
		if r.Prompt != "Sky?" || r.Response != "Blue." || r.History != h {
			t.Errorf("sft row %d: %+v, want history %s", i+1, r, h)
		}
	}
	if rows[0].ID != rows[1].ID || rows[0].ID == rows[2].ID {
		t.Errorf("ids: the same conversation should share its id, a single-turn row differ: %s %s %s", rows[0].ID, rows[1].ID, rows[2].ID)
	}
	if rows[2].ID != ContentID("", "Sky?", "Blue.") {
		t.Errorf("a single-turn row changed id: %s", rows[2].ID)
	}

	pairs := writeJSONL(t, "pref.jsonl",
		`{"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Sky?"}], "chosen": [{"role": "assistant", "content": "Blue."}], "rejected": [{"role": "assistant", "content": "Green."}]}`,
		`{"chosen": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Sky?"}, {"role": "assistant", "content": "Blue."}], "rejected": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Sky?"}, {"role": "assistant", "content": "Green."}]}`,
	)
	cs, err := ReadAll[Comparison](pairs)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cs {
		if c.Prompt != "Sky?" || c.Chosen != "Blue." || c.Rejected != "Green." || c.History != wantHistory {
			t.Errorf("comparison row %d: %+v", i+1, c)
		}
	}

	prompts := writeJSONL(t, "prompts.jsonl",
		`{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Sky?"}], "task": "chat"}`,
		`{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Sky?"}, {"role": "assistant", "content": "dropped"}]}`,
		`{"prompt": "plain"}`,
	)
	ps, err := ReadAll[Prompt](prompts)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 3 || ps[0].Prompt != "Sky?" || ps[0].History != wantHistory || ps[0].Task != "chat" || ps[1].Prompt != "Sky?" || ps[1].History != wantHistory || ps[2].Prompt != "plain" || ps[2].History != "" {
		t.Errorf("prompts: %+v", ps)
	}
	msgs, err := Conversation(ps[0].History, ps[0].Prompt)
	if err != nil || len(msgs) != 4 || msgs[3] != (Message{"user", "Sky?"}) || msgs[0] != sys {
		t.Errorf("Conversation: %v %v", msgs, err)
	}
}

// hubMessage and the hub rows are Parquet files as the hub publishes them:
// lists of {role, content} structs, no rlhf columns.
type hubMessage struct {
	Role    string `parquet:"role,optional"`
	Content string `parquet:"content,optional"`
}

type hubSFTRow struct {
	Messages []hubMessage `parquet:"messages,optional,list"`
	Category string       `parquet:"category,optional"`
}

type hubPrefRow struct {
	Prompt   []hubMessage `parquet:"prompt,optional,list"`
	Chosen   []hubMessage `parquet:"chosen,optional,list"`
	Rejected []hubMessage `parquet:"rejected,optional,list"`
}

func writeParquetRows[R any](t *testing.T, name string, rows []R) string {
	t.Helper()
	var b bytes.Buffer
	if err := parquet.Write(&b, rows); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHubParquetConversations: a Parquet file with a "messages" column of
// {role, content} structs reads as sft and prompt rows, one with TRL's
// conversational prompt/chosen/rejected as comparison rows, history kept;
// a bad row is an error naming the file and row.
func TestHubParquetConversations(t *testing.T) {
	conv := []hubMessage{{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "Sky?"}, {"assistant", "Blue."}}
	wantHistory := EncodeHistory([]Message{{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}})
	p := writeParquetRows(t, "chat.parquet", []hubSFTRow{{Messages: conv, Category: "chat"}, {Messages: conv[1:3]}})
	rows, err := ReadAll[SFT](p)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Prompt != "Sky?" || rows[0].Response != "Blue." || rows[0].History != wantHistory ||
		rows[1].Prompt != "Hi" || rows[1].Response != "Hello" || rows[1].History != "" || rows[0].ID == "" {
		t.Errorf("sft: %+v", rows)
	}
	ps, err := ReadAll[Prompt](p)
	if err != nil || len(ps) != 2 || ps[0].Prompt != "Sky?" || ps[0].History != wantHistory {
		t.Errorf("prompt: %+v %v", ps, err)
	}
	pref := writeParquetRows(t, "pref.parquet", []hubPrefRow{{Prompt: conv[:4], Chosen: conv[4:], Rejected: []hubMessage{{"assistant", "Green."}}}})
	cs, err := ReadAll[Comparison](pref)
	if err != nil || len(cs) != 1 || cs[0].Prompt != "Sky?" || cs[0].Chosen != "Blue." || cs[0].Rejected != "Green." || cs[0].History != wantHistory {
		t.Errorf("comparison: %+v %v", cs, err)
	}
	type pcRow struct {
		Prompt     []hubMessage `parquet:"prompt,list"`
		Completion []hubMessage `parquet:"completion,list"`
	}
	pc := writeParquetRows(t, "pc.parquet", []pcRow{{Prompt: conv[:4], Completion: conv[4:]}})
	if rows, err := ReadAll[SFT](pc); err != nil || len(rows) != 1 || rows[0].Prompt != "Sky?" || rows[0].Response != "Blue." || rows[0].History != wantHistory {
		t.Errorf("prompt-completion: %+v %v", rows, err)
	}
	bad := writeParquetRows(t, "bad.parquet", []hubSFTRow{{Messages: conv}, {Messages: conv[1:3]}, {Messages: conv[1:4]}})
	_, err = ReadAll[SFT](bad)
	if err == nil || !strings.Contains(err.Error(), bad+" row 3: \"messages\": want") {
		t.Errorf("bad row: %v", err)
	}
}

// TestResponseHistoryJSONL: a response row's "history" may be a list of
// messages or its JSON text; a history that cannot come before a user turn
// is an error naming FILE:LINE.
func TestResponseHistoryJSONL(t *testing.T) {
	h := EncodeHistory([]Message{{"system", "Be brief."}})
	p := writeJSONL(t, "resp.jsonl",
		`{"prompt": "Sky?", "response": "Blue.", "history": [{"role": "system", "content": "Be brief."}]}`,
		`{"prompt": "Sky?", "response": "Blue.", "history": "[{\"role\":\"system\",\"content\":\"Be brief.\"}]"}`)
	rows, err := ReadAll[Response](p)
	if err != nil || len(rows) != 2 || rows[0].History != h || rows[1].History != h {
		t.Fatalf("%+v %v", rows, err)
	}
	bad := writeJSONL(t, "bad.jsonl", `{"prompt": "Sky?", "response": "x", "history": [{"role": "user", "content": "Hi"}]}`)
	if _, err := ReadAll[Response](bad); err == nil || !strings.Contains(err.Error(), bad+":1: ") || !strings.Contains(err.Error(), `"history": want`) {
		t.Errorf("bad history: %v", err)
	}
}

// TestSFTPromptCompletion: TRL's prompt-completion rows, as strings or as
// conversations (a prompt ending with a user turn, a completion of one
// assistant message), read as sft rows with their history.
func TestSFTPromptCompletion(t *testing.T) {
	p := writeJSONL(t, "pc.jsonl",
		`{"prompt": "Sky?", "completion": "Blue."}`,
		`{"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Sky?"}], "completion": [{"role": "assistant", "content": "Blue."}]}`)
	rows, err := ReadAll[SFT](p)
	h := EncodeHistory([]Message{{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}})
	if err != nil || len(rows) != 2 || rows[0].Prompt != "Sky?" || rows[0].Response != "Blue." || rows[0].History != "" ||
		rows[1].Prompt != "Sky?" || rows[1].Response != "Blue." || rows[1].History != h {
		t.Fatalf("%+v %v", rows, err)
	}
	for _, c := range []struct{ row, want string }{
		{`{"prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}], "completion": "x"}`, `"prompt": want an optional system message`},
		{`{"prompt": "Hi", "completion": [{"role": "user", "content": "x"}]}`, `"completion": want one assistant message`},
		{`{"prompt": "Hi", "response": "a", "completion": "b"}`, `"response" and "completion"`},
	} {
		bad := writeJSONL(t, "bad.jsonl", c.row)
		if _, err := ReadAll[SFT](bad); err == nil || !strings.Contains(err.Error(), bad+":1: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.row, err, c.want)
		}
	}
}
