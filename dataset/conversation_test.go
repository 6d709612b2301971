package dataset

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
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

// TestConversationalRefusals: what the kinds cannot hold yet (a system
// message, several user turns) and malformed conversations are errors
// naming FILE:LINE and the reason.
func TestConversationalRefusals(t *testing.T) {
	okSFT := `{"prompt": "ok", "response": "fine"}`
	for _, c := range []struct{ row, want string }{
		{`{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}`,
			`"messages": system messages are not supported yet`},
		{`{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Bye!"}]}`,
			`"messages": multi-turn conversations are not supported yet: 2 user turns`},
		{`{"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}, {"from": "human", "value": "c"}, {"from": "gpt", "value": "d"}, {"from": "human", "value": "e"}, {"from": "gpt", "value": "f"}]}`,
			`"conversations": multi-turn conversations are not supported yet: 3 user turns`},
		{`{"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]}`,
			`"conversations": system messages are not supported yet`},
		{`{"conversations": [{"from": "tool", "value": "a"}]}`, `turn 1 is from "tool"`},
		{`{"messages": [{"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Hi"}]}`,
			`want a user message then an assistant message, got [assistant, user]`},
		{`{"messages": [{"content": "Hi"}]}`, `"messages": message 1 has no role`},
		{`{"instruction": "Do it."}`, `needs both "instruction" and "output"`},
		{`{"prompt": "p", "response": "r", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}`,
			`want one of them`},
	} {
		p := writeJSONL(t, "sft.jsonl", okSFT, c.row)
		_, err := ReadAll[SFT](p)
		if err == nil || !strings.Contains(err.Error(), p+":2: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("sft %s: %v, want %s:2 and %q", c.row, err, p, c.want)
		}
	}
	okPair := `{"prompt": "ok", "chosen": "a", "rejected": "b"}`
	for _, c := range []struct{ row, want string }{
		{`{"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}], "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}`,
			`"prompt": system messages are not supported yet`},
		{`{"prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}], "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}`,
			`"prompt": multi-turn conversations are not supported yet: 2 user turns`},
		{`{"chosen": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "More"}, {"role": "assistant", "content": "a"}], "rejected": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "More"}, {"role": "assistant", "content": "b"}]}`,
			`"prompt": multi-turn conversations are not supported yet: 2 user turns`},
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
