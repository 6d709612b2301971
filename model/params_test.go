package model

import "testing"

// TestParamCount checks the counts against GPT-2 small's published 124M
// (124,439,808 with the tied LM head) and LoRA's r·(in+out) per matrix.
func TestParamCount(t *testing.T) {
	c, err := NewConfig(ArchGPT2, 50257, 12, 768, 12, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ParamCount(true); got != 124439808 {
		t.Errorf("gpt2 small: %d params, want 124439808", got)
	}
	// c_attn 768→2304 and attn.c_proj 768→768 per block: 16·(768+2304) + 16·(768+768).
	got, err := c.LoRAParamCount(true, 16, []string{"c_attn", "attn.c_proj"})
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(12 * (16*(768+2304) + 16*(768+768))); got != want {
		t.Errorf("LoRA params %d, want %d", got, want)
	}
	if _, err := c.LoRAParamCount(true, 16, []string{"q_proj"}); err == nil {
		t.Error("q_proj on gpt2: no error")
	}
}
