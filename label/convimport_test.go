package label

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportTRLConversational: TRL's conversational preference rows, with
// an explicit prompt (a list of messages) or an implicit one (the shared
// start of chosen and rejected), import as plain pairs; conversations that
// a pair cannot hold yet (system message, several user turns) are refused
// by line, with the messages the comparison JSONL reader gives too.
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
		{`{"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}], "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}`,
			`"prompt": system messages are not supported yet`},
		{`{"prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}], "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}`,
			`"prompt": multi-turn conversations are not supported yet: 2 user turns`},
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
