package label

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestDetectLangCountsScriptNotMarkup: the role markers of hh-style rows do
// not outvote their Chinese text; English rows stay English.
func TestDetectLangCountsScriptNotMarkup(t *testing.T) {
	for in, want := range map[string]string{
		"Human: 你好\n\nAssistant: 你好！有什么可以帮你的？\n\nHuman: 介绍一下长城。\n\nAssistant:": "zh",
		"Human: 你好 … Assistant: 你好！…":                                                               "zh",
		"<|im_start|>user\n用 Python 写一个 web 服务<|im_end|>\n<|im_start|>assistant\n":                  "zh",
		"Human: Hi\n\nAssistant: Hello! How can I help?\n\nHuman: Tell me about tea.\n\nAssistant:": "en",
		"Human: What does 你好 mean?\n\nAssistant:":                                                   "en",
	} {
		if got := DetectLang(in); got != want {
			t.Errorf("DetectLang(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestImportHHChinese: comparisons import --format hh tags Chinese hh rows zh.
func TestImportHHChinese(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "hh-zh.jsonl")
	data := `{"chosen":"\n\nHuman: 你好\n\nAssistant: 你好！有什么可以帮你的？","rejected":"\n\nHuman: 你好\n\nAssistant: 走开。"}
{"chosen":"\n\nHuman: 早上好\n\nAssistant: 早上好！今天想聊什么？","rejected":"\n\nHuman: 早上好\n\nAssistant: 晚上好。"}
{"chosen":"\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Is tea a drink?\n\nAssistant: Yes, it is.","rejected":"\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Is tea a drink?\n\nAssistant: No."}
`
	if err := os.WriteFile(in, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if _, err := Import(context.Background(), ImportOptions{Format: FormatHH, In: []string{in}, Out: out}); err != nil {
		t.Fatal(err)
	}
	rows := readComparisons(t, out)
	if len(rows) != 3 || rows[0].Lang != "zh" || rows[1].Lang != "zh" || rows[2].Lang != "en" {
		for _, r := range rows {
			t.Logf("%q: %s", r.Prompt, r.Lang)
		}
		t.Fatalf("%d rows; want the Chinese rows zh and the English row en", len(rows))
	}
}
