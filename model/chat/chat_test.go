package chat

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type cases struct {
	Templates map[string]struct {
		BOS string `json:"bos_token"`
		EOS string `json:"eos_token"`
	} `json:"templates"`
	Conversations map[string][]Message `json:"conversations"`
}

type golden struct {
	Template            string `json:"template"`
	Conversation        string `json:"conversation"`
	AddGenerationPrompt bool   `json:"add_generation_prompt"`
	Output              *string
	Error               string
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func compileTestTemplate(t *testing.T, c cases, name string) *Template {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", name+".jinja"))
	if err != nil {
		t.Fatal(err)
	}
	tm, err := Compile(name, string(src), c.Templates[name].BOS, c.Templates[name].EOS)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// TestRenderMatchesHuggingFaceJinja renders templates in the styles of
// ChatML, Llama-3, Mistral and Gemma on single- and multi-turn
// conversations, with and without a system message and a generation
// prompt, and compares with testdata/golden.json: the renderings of
// @huggingface/jinja, the hub's reference implementation (testdata/render.mjs
// made them), byte for byte; where it raises, so must we.
func TestRenderMatchesHuggingFaceJinja(t *testing.T) {
	var c cases
	var want []golden
	readJSON(t, "cases.json", &c)
	readJSON(t, "golden.json", &want)
	if len(want) != 2*len(c.Templates)*len(c.Conversations) {
		t.Fatalf("golden.json has %d renderings; regenerate it with render.mjs", len(want))
	}
	templates := map[string]*Template{}
	for name := range c.Templates {
		templates[name] = compileTestTemplate(t, c, name)
	}
	for _, g := range want {
		got, err := templates[g.Template].Render(c.Conversations[g.Conversation], g.AddGenerationPrompt)
		what := g.Template + "/" + g.Conversation
		if g.AddGenerationPrompt {
			what += "+generation prompt"
		}
		switch {
		case g.Output == nil && err == nil:
			t.Errorf("%s: rendered %q, want the error %q", what, got, g.Error)
		case g.Output == nil && !strings.Contains(err.Error(), g.Error):
			t.Errorf("%s: error %q, want %q", what, err, g.Error)
		case g.Output != nil && err != nil:
			t.Errorf("%s: %v", what, err)
		case g.Output != nil && got != *g.Output:
			t.Errorf("%s:\n got %q\nwant %q", what, got, *g.Output)
		}
	}
}

// TestFrame: the texts around a prompt and its answer, and the answer's
// turn as rlhf trains it (trailing white space dropped).
func TestFrame(t *testing.T) {
	var c cases
	readJSON(t, "cases.json", &c)
	for name, want := range map[string]struct {
		frame    Frame
		response string
	}{
		"chatml": {Frame{"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n", "", "<|im_end|>\n"},
			"Hello!<|im_end|>"},
		"llama3": {Frame{"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n", "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", "", "<|eot_id|>"},
			"Hello!<|eot_id|>"},
		"mistral": {Frame{"<s> [INST] ", " [/INST]", " ", "</s>"}, " Hello!</s>"},
		"gemma": {Frame{"<bos><start_of_turn>user\n", "<end_of_turn>\n<start_of_turn>model\n", "", "<end_of_turn>\n"},
			"Hello!<end_of_turn>"},
	} {
		tm := compileTestTemplate(t, c, name)
		f, err := tm.Frame()
		if err != nil || f != want.frame {
			t.Errorf("%s: frame %#v, %v; want %#v", name, f, err, want.frame)
		}
		// Llama-3 and Gemma trim the text; the rendering of the row decides.
		r, err := tm.Response("Hi", " Hello! \n")
		if name == "chatml" || name == "mistral" {
			r, err = tm.Response("Hi", "Hello!")
		}
		if err != nil || r != want.response {
			t.Errorf("%s: response %q, %v; want %q", name, r, err, want.response)
		}
		p, err := tm.Prompt("Hi")
		if err != nil || p != f.BeforeUser+"Hi"+f.AfterUser {
			t.Errorf("%s: prompt %q, %v", name, p, err)
		}
	}
}

// TestTemplateErrorsNameTheLine: a template error names the template and
// its line, for a syntax error as for a raise_exception.
func TestTemplateErrorsNameTheLine(t *testing.T) {
	_, err := Compile("org/m/tokenizer_config.json", "{% for m in messages %}\n{{ m.content }}\n{% endif %}", "", "")
	if err == nil || !strings.HasPrefix(err.Error(), "org/m/tokenizer_config.json: chat template: ") || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("syntax error: %v", err)
	}
	var c cases
	readJSON(t, "cases.json", &c)
	tm := compileTestTemplate(t, c, "mistral")
	_, err = tm.Render([]Message{{Role: "user", Content: "a"}, {Role: "user", Content: "b"}}, true)
	if err == nil || !strings.HasPrefix(err.Error(), "mistral: chat template: line 10: Conversation roles must alternate") {
		t.Errorf("raise_exception: %v", err)
	}
	tm = compileTestTemplate(t, c, "chatml")
	_, err = tm.Render([]Message{{Role: "tool", Content: "a"}}, true)
	if err == nil || !strings.HasPrefix(err.Error(), `chatml: chat template: line 11: unexpected role "tool"`) {
		t.Errorf("raise_exception with a built message: %v", err)
	}
}

// TestFrameRefusesATemplateWhosePromptIsNoPrefix: rlhf samples answers
// after the rendered prompt, so that prompt must start the conversation.
func TestFrameRefusesATemplateWhosePromptIsNoPrefix(t *testing.T) {
	tm, err := Compile("odd", "{% for m in messages %}{{ m.content }};{% endfor %}{% if add_generation_prompt %}ANSWER:{% endif %}", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tm.Frame(); err == nil || !strings.Contains(err.Error(), "prefix") {
		t.Errorf("frame: %v", err)
	}
}

// TestFilters: tojson (Python's json.dumps, non-ASCII kept, keys in
// order) and trim, as transformers' environment has them.
func TestFilters(t *testing.T) {
	tm, err := Compile("f", "{{ messages | tojson }}|{{ messages[0].content | trim }}|{{ bos_token }}{{ eos_token }}", "<s>", "</s>")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tm.Render([]Message{{Role: "user", Content: "  你好 \"x\"\n"}}, false)
	if want := `[{"role": "user", "content": "  你好 \"x\"\n"}]|你好 "x"|<s></s>`; err != nil || got != want {
		t.Errorf("got %q, %v\nwant %q", got, err, want)
	}
}
