package label

import (
	"bytes"
	"context"
	"github.com/parquet-go/parquet-go"
	"github.com/rlhf-project/rlhf/dataset"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportTRLConversational: TRL's conversational preference rows, with
// an explicit prompt (a list of messages) or an implicit one (the shared
// start of chosen and rejected), import as plain pairs; malformed
// conversations are refused by line, with the messages the comparison JSONL
// reader gives too.
func TestImportTRLConversational(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "conv.jsonl")
	os.WriteFile(in, []byte(`{"prompt": [{"role": "user", "content": "What color is the sky?"}], "chosen": [{"role": "assistant", "content": "It is blue."}], "rejected": [{"role": "assistant", "content": "It is green."}]}
{"chosen": [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "你好！"}], "rejected": [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "走开。"}]}
{"prompt": "Plain prompt", "chosen": "yes", "rejected": "no"}
`), 0o644)
	out := filepath.Join(dir, "out")
	rep, err := Import(context.Background(), ImportOptions{Format: FormatTRL, In: []string{in}, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	rows := readComparisons(t, out)
	if rep.Rows != 3 || len(rows) != 3 {
		t.Fatalf("report %+v, %d rows", rep, len(rows))
	}
	if r := rows[0]; r.Prompt != "What color is the sky?" || r.Chosen != "It is blue." || r.Rejected != "It is green." || r.Lang != "en" {
		t.Errorf("explicit prompt: %+v", r)
	}
	if r := rows[1]; r.Prompt != "你好" || r.Chosen != "你好！" || r.Rejected != "走开。" || r.Lang != "zh" {
		t.Errorf("implicit prompt: %+v", r)
	}
	for _, c := range []struct{ row, want string }{
		{`{"prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}], "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}`,
			`"prompt": want an optional system message, then user and assistant messages in turn, starting with a user message, ending with a user message`},
		{`{"prompt": [{"role": "user", "content": "Hi"}], "chosen": [{"role": "user", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}`,
			`"chosen": want one assistant message`},
		{`{"chosen": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "a"}], "rejected": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "b"}]}`,
			"share no prompt"},
		{`{"prompt": 3, "chosen": "a", "rejected": "b"}`, `"prompt": want a string or a list of {"role", "content"} messages`},
	} {
		bad := filepath.Join(dir, "bad.jsonl")
		os.WriteFile(bad, []byte(`{"prompt": "ok", "chosen": "a", "rejected": "b"}`+"\n"+c.row+"\n"), 0o644)
		_, err := Import(context.Background(), ImportOptions{Format: FormatTRL, In: []string{bad}, Out: filepath.Join(t.TempDir(), "o")})
		if err == nil || !strings.Contains(err.Error(), bad+":2") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.row, err, c.want)
		}
	}
}

type pqMessage struct {
	Role    string `parquet:"role"`
	Content string `parquet:"content"`
}

type pqPref struct {
	Chosen   []pqMessage `parquet:"chosen,list"`
	Rejected []pqMessage `parquet:"rejected,list"`
}

// TestImportTRLMultiTurn: a system message and earlier turns of TRL's
// conversational rows, from JSONL and from Parquet (message lists as lists
// of structs, implicit prompt), go to the history column; the last user
// turn is the prompt.
func TestImportTRLMultiTurn(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "conv.jsonl")
	os.WriteFile(in, []byte(`{"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Sky?"}], "chosen": [{"role": "assistant", "content": "Blue."}], "rejected": [{"role": "assistant", "content": "Green."}]}
`), 0o644)
	conv := []pqMessage{{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "Sky?"}}
	var b bytes.Buffer
	if err := parquet.Write(&b, []pqPref{{Chosen: append(conv[:4:4], pqMessage{"assistant", "Blue."}), Rejected: append(conv[:4:4], pqMessage{"assistant", "Green."})}}); err != nil {
		t.Fatal(err)
	}
	pq := filepath.Join(dir, "conv.parquet")
	os.WriteFile(pq, b.Bytes(), 0o644)
	want := dataset.EncodeHistory([]dataset.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Hello"}})
	for _, p := range []string{in, pq} {
		out := filepath.Join(t.TempDir(), "out")
		if _, err := Import(context.Background(), ImportOptions{Format: FormatTRL, In: []string{p}, Out: out}); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		rows := readComparisons(t, out)
		if len(rows) != 1 || rows[0].Prompt != "Sky?" || rows[0].Chosen != "Blue." || rows[0].Rejected != "Green." || rows[0].History != want {
			t.Errorf("%s: %+v", p, rows)
		}
	}
}
