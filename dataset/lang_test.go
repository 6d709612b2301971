package dataset

import "testing"

// TestCountScriptsSkipsMarkup: role markers, chat-template tokens, digits
// and punctuation do not count as letters of any script.
func TestCountScriptsSkipsMarkup(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Scripts
	}{
		{"Human: 你好\n\nAssistant: 你好！有什么可以帮你的？\n\nHuman: 介绍一下长城。\n\nAssistant:", Scripts{Han: 18}},
		{"Human: 你好 … Assistant: 你好！…", Scripts{Han: 4}},
		{"USER: 你好 ASSISTANT: 你好", Scripts{Han: 4}},
		{"System: 你是助手。\nUser: 你好", Scripts{Han: 6}},
		{"### Instruction:\n翻译\n\n### Response:\n", Scripts{Han: 2}},
		{"<|im_start|>system\n你是助手<|im_end|>\n<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n", Scripts{Han: 6}},
		{"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n你好<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", Scripts{Han: 2}},
		{"<s>[INST] <<SYS>>\n你是助手\n<</SYS>>\n\n你好 [/INST] 你好</s>", Scripts{Han: 8}},
		{"<bos><start_of_turn>user\n你好<end_of_turn>\n<start_of_turn>model\n", Scripts{Han: 2}},
		{"Human: What is tea?\n\nAssistant: A drink, 100% \"tea\".", Scripts{Latin: 18}},
		{"Привет, café 2024!", Scripts{Latin: 4, Other: 6}},
		{"A user: said hi", Scripts{Latin: 7}}, // role words before ':' are markers anywhere
	} {
		if got := CountScripts(c.in); got != c.want {
			t.Errorf("CountScripts(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}
