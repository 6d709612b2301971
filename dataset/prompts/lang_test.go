package prompts

import "testing"

// TestDetectLangSkipsChatMarkup: role markers and template tokens do not
// vote; Chinese chat rows are zh, English ones en.
func TestDetectLangSkipsChatMarkup(t *testing.T) {
	for in, want := range map[string]string{
		"Human: 你好\n\nAssistant: 你好！\n\nHuman: 写一首诗\n\nAssistant:": "zh",
		"<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n":  "zh",
		"Human: Write a poem about the sea.\n\nAssistant:":         "en",
		"<|im_start|>user\n<|im_end|>":                             "",
	} {
		if got := DetectLang(in); got != want {
			t.Errorf("DetectLang(%q) = %q, want %q", in, got, want)
		}
	}
}
