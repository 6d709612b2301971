package tokenizer

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

const fixtures = "../../testdata/tokenizer"

type goldenCase struct {
	Text    string  `json:"text"`
	IDs     []int   `json:"ids"`
	Decoded *string `json:"decoded"` // HF's decode(ids), when recorded
}

func readGolden(t testing.TB, name string) []goldenCase {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	var g struct{ Cases []goldenCase }
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(g.Cases) == 0 {
		t.Fatalf("%s: no cases", name)
	}
	return g.Cases
}

var gpt2Once struct {
	sync.Once
	tk  *Tokenizer
	err error
}

// loadGPT2 unpacks the gzipped GPT-2 tokenizer.json once per test binary.
func loadGPT2(t testing.TB) *Tokenizer {
	t.Helper()
	gpt2Once.Do(func() {
		f, err := os.Open(filepath.Join(fixtures, "gpt2/tokenizer.json.gz"))
		if err != nil {
			gpt2Once.err = err
			return
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			gpt2Once.err = err
			return
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			gpt2Once.err = err
			return
		}
		gpt2Once.tk, gpt2Once.err = FromBytes(raw, nil)
	})
	if gpt2Once.err != nil {
		t.Fatal(gpt2Once.err)
	}
	return gpt2Once.tk
}

func checkGolden(t *testing.T, tk *Tokenizer, cases []goldenCase) {
	t.Helper()
	for _, c := range cases {
		got := tk.Encode(c.Text)
		if len(got) == 0 && len(c.IDs) == 0 {
			continue
		}
		if !slices.Equal(got, c.IDs) {
			t.Errorf("Encode(%q)\n got %v\nwant %v", c.Text, got, c.IDs)
		}
	}
}

// GPT-2's real BPE must give the ids of OpenAI's GPT-2 encoder (gpt-3-encoder).
// The golden texts leave out U+0085 and U+FEFF: the JavaScript encoders'
// \s differs there from HF's Oniguruma, which regexp2 follows (the Qwen2
// cases, whose pattern tokenizers.js runs with Oniguruma semantics, hold
// those characters).
func TestGPT2MatchesReferenceEncoder(t *testing.T) {
	tk := loadGPT2(t)
	checkGolden(t, tk, readGolden(t, "gpt2/golden.json"))
	if tk.VocabSize() != 50257 || tk.EOS() != 50256 || tk.PAD() != 50256 {
		t.Errorf("VocabSize, EOS, PAD = %d, %d, %d; want 50257, 50256, 50256", tk.VocabSize(), tk.EOS(), tk.PAD())
	}
	for _, c := range readGolden(t, "gpt2/golden.json") {
		if got := tk.Decode(c.IDs); got != c.Text {
			t.Errorf("Decode(Encode(%q)) = %q", c.Text, got)
		}
	}
}

// A Qwen2-style file (look-ahead Split pattern, NFC, pair-list merges) must
// give the ids of HF tokenizers (@huggingface/tokenizers).
func TestQwen2StyleMatchesHF(t *testing.T) {
	tk, err := Load(filepath.Join(fixtures, "qwen2/tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	cases := readGolden(t, "qwen2/golden.json")
	checkGolden(t, tk, cases)
	for _, c := range cases {
		if got, want := tk.Decode(c.IDs), norm.NFC.String(c.Text); got != want {
			t.Errorf("Decode(Encode(%q)) = %q, want %q", c.Text, got, want)
		}
	}
	// tokenizer_config.json chooses EOS and PAD.
	imEnd, _ := tk.TokenToID("<|im_end|>")
	eot, _ := tk.TokenToID("<|endoftext|>")
	if tk.EOS() != imEnd || tk.PAD() != eot || tk.BOS() != -1 {
		t.Errorf("EOS, PAD, BOS = %d, %d, %d; want %d, %d, -1", tk.EOS(), tk.PAD(), tk.BOS(), imEnd, eot)
	}
}

// A Llama-2-style SentencePiece BPE (Prepend/Replace normalizers, no
// pre-tokenizer, byte fallback, decoder chain) must give HF's ids and text.
func TestLlama2StyleMatchesHF(t *testing.T) {
	tk, err := Load(filepath.Join(fixtures, "llama2/tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if tk.fast == nil {
		t.Error("fast path not chosen")
	}
	cases := readGolden(t, "llama2/golden.json")
	checkGolden(t, tk, cases)
	for _, c := range cases {
		if got := tk.Decode(c.IDs); c.Decoded != nil && got != *c.Decoded {
			t.Errorf("Decode(%v) = %q, want %q", c.IDs, got, *c.Decoded)
		}
	}
	// Byte fallback: a character missing from the vocabulary is its bytes.
	if ids := tk.Encode("鹦"); len(ids) != 4 { // "▁" + 3 bytes
		t.Errorf(`Encode("鹦") = %v, want 4 ids`, ids)
	}
	if tk.EOS() != 2 || tk.BOS() != 1 || tk.PAD() != 2 {
		t.Errorf("EOS, BOS, PAD = %d, %d, %d; want 2, 1, 2", tk.EOS(), tk.BOS(), tk.PAD())
	}
	tk.fast = nil
	checkGolden(t, tk, cases)
}

// Metaspace files (newer Llama-2 and Mistral conversions): "▁" prepended to
// the first segment only, split on "▁" or not, Metaspace decoder.
func TestMetaspaceMatchesHF(t *testing.T) {
	for _, dir := range []string{"metaspace", "metaspace_split"} {
		tk, err := Load(filepath.Join(fixtures, dir, "tokenizer.json"))
		if err != nil {
			t.Fatal(err)
		}
		if tk.fast == nil {
			t.Errorf("%s: fast path not chosen", dir)
		}
		cases := readGolden(t, dir+"/golden.json")
		checkGolden(t, tk, cases)
		for _, c := range cases {
			if got := tk.Decode(c.IDs); c.Decoded != nil && got != *c.Decoded {
				t.Errorf("%s: Decode(%v) = %q, want %q", dir, c.IDs, got, *c.Decoded)
			}
		}
	}
}

// The byte-level tokenizer file is what HF tokenizers was checked against.
func TestByteLevelMatchesHF(t *testing.T) {
	want, err := os.ReadFile(filepath.Join(fixtures, "bytelevel/tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ByteLevel(), want) {
		t.Fatal("ByteLevel() differs from testdata/tokenizer/bytelevel/tokenizer.json; regenerate it and its golden ids (testdata/tokenizer/gen.cjs)")
	}
	tk := NewByteLevel()
	checkGolden(t, tk, readGolden(t, "bytelevel/golden.json"))
	if tk.VocabSize() != 257 || tk.EOS() != 256 || tk.PAD() != 256 {
		t.Errorf("VocabSize, EOS, PAD = %d, %d, %d; want 257, 256, 256", tk.VocabSize(), tk.EOS(), tk.PAD())
	}
	for b := 0; b < 256; b++ {
		if got := tk.Encode(string([]byte{byte(b)})); b < 0x80 && !slices.Equal(got, []int{b}) {
			t.Errorf("byte %#x: got %v", b, got)
		}
	}
}

func TestSpecialTokensInsideText(t *testing.T) {
	qwen, err := Load(filepath.Join(fixtures, "qwen2/tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tk   *Tokenizer
		text string
		want []string // special tokens expected, in order
	}{
		{"gpt2", loadGPT2(t), "hi<|endoftext|>there<|endoftext|>", []string{"<|endoftext|>", "<|endoftext|>"}},
		{"bytelevel", NewByteLevel(), "你好<|endoftext|> x", []string{"<|endoftext|>"}},
		{"qwen2", qwen, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", []string{"<|im_start|>", "<|im_end|>", "<|im_start|>"}},
		{"qwen2 adjacent", qwen, "<|im_end|><|endoftext|>", []string{"<|im_end|>", "<|endoftext|>"}},
	} {
		ids := tc.tk.Encode(tc.text)
		var got []string
		for _, id := range ids {
			if tc.tk.IsSpecial(id) {
				s, _ := tc.tk.IDToToken(id)
				got = append(got, s)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: Encode(%q) = %v has special tokens %v, want %v", tc.name, tc.text, ids, got, tc.want)
		}
		if dec := tc.tk.Decode(ids); dec != tc.text {
			t.Errorf("%s: Decode = %q, want %q", tc.name, dec, tc.text)
		}
	}
	// The text around a special token is encoded as if it stood alone.
	tk := loadGPT2(t)
	want := append(append(tk.Encode("a b"), tk.EOS()), tk.Encode(" c")...)
	if got := tk.Encode("a b<|endoftext|> c"); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

var roundTripTexts = []string{
	"", " ", "  ", "\n", "\r\n", "\t \t", "hello", "  two  spaces  ",
	"中文分词测试：你好，世界！", "日本語のテキスト", "한국어 텍스트", "Ελληνικά", "עברית", "العربية",
	"emoji 😀👍🏽👨‍👩‍👧🇯🇵❤️‍🔥", "\u200b\u200c\u200d\ufeff", "e\u0301 a\u0308", "\x00\x01\x7f",
	"\U0010FFFF\uFFFD\uE000", "<|endoftext", "|>", "<|endoftext|><|endoftext|>",
	strings.Repeat("ab ", 300), "line1\nline2\n\n\tindented\n",
}

func TestByteLevelRoundTrip(t *testing.T) {
	tk := NewByteLevel()
	for _, s := range roundTripTexts {
		ids := tk.Encode(s)
		if got := tk.Decode(ids); got != s {
			t.Errorf("round trip %q: got %q (ids %v)", s, got, ids)
		}
		if !strings.Contains(s, EndOfText) && len(ids) != len(s) {
			t.Errorf("%q: %d ids for %d bytes", s, len(ids), len(s))
		}
	}
	// Random valid UTF-8 from all planes.
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 200; i++ {
		var sb strings.Builder
		for j := rng.Intn(40); j > 0; j-- {
			r := rune(rng.Intn(0x110000))
			if utf8.ValidRune(r) {
				sb.WriteRune(r)
			}
		}
		s := sb.String()
		if got := tk.Decode(tk.Encode(s)); got != s {
			t.Fatalf("round trip %q: got %q", s, got)
		}
	}
	// Invalid UTF-8 (truncated characters, Latin-1 bytes) becomes U+FFFD,
	// as in HF, which accepts only valid strings.
	for _, s := range []string{"caf\xe9", "\xe4\xbd", "ok\xff\xfeok", "\xf0\x9f\x98"} {
		want := strings.ToValidUTF8(s, "\uFFFD")
		if got := tk.Decode(tk.Encode(s)); got != want {
			t.Errorf("invalid %q: got %q, want %q", s, got, want)
		}
	}
}

// Fuzzing (go test -fuzz FuzzByteLevelRoundTrip) looks for strings that do
// not survive Encode then Decode; plain `go test` runs the seeds.
func FuzzByteLevelRoundTrip(f *testing.F) {
	for _, s := range roundTripTexts {
		f.Add(s)
	}
	tk := NewByteLevel()
	f.Fuzz(func(t *testing.T, s string) {
		want := strings.ToValidUTF8(s, "\uFFFD")
		if got := tk.Decode(tk.Encode(s)); got != want {
			t.Errorf("round trip %q: got %q", s, got)
		}
	})
}

func TestGPT2RoundTrip(t *testing.T) {
	tk := loadGPT2(t)
	for _, s := range roundTripTexts {
		if got := tk.Decode(tk.Encode(s)); got != s {
			t.Errorf("round trip %q: got %q", s, got)
		}
	}
}

func TestSplitPatternLookahead(t *testing.T) {
	p, err := newRegexPattern(gpt2Pattern)
	if err != nil {
		t.Fatal(err)
	}
	text := "a   b\t\n c  "
	var got []string
	for _, m := range p.FindMatches(text) {
		got = append(got, text[m.Offsets[0]:m.Offsets[1]])
	}
	// \s+(?!\S) leaves the last space to the next word.
	want := []string{"a", "  ", " b", "\t\n", " c", "  "}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// ignore_merges (Llama-3) keeps a whole word that is in the vocabulary even
// when the merges could not build it.
func TestIgnoreMerges(t *testing.T) {
	build := func(ignore bool) *Tokenizer {
		vocab := byteAlphabet()
		vocab["abc"] = 256
		raw := byteLevelJSON(vocab, nil, []string{EndOfText}, []int{257})
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		doc["model"].(map[string]any)["ignore_merges"] = ignore
		raw, _ = json.Marshal(doc)
		tk, err := FromBytes(raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	if got := build(true).Encode("abc abc"); !slices.Equal(got, []int{256, 32, 97, 98, 99}) {
		t.Errorf("ignore_merges: got %v", got)
	}
	if got := build(false).Encode("abc"); !slices.Equal(got, []int{97, 98, 99}) {
		t.Errorf("without ignore_merges: got %v", got)
	}
}

func TestSaveLoad(t *testing.T) {
	src, err := Load(filepath.Join(fixtures, "qwen2/tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "model")
	if err := src.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	text := "<|im_start|>user\nSave me 123<|im_end|>"
	if !slices.Equal(got.Encode(text), src.Encode(text)) || got.EOS() != src.EOS() || got.PAD() != src.PAD() {
		t.Error("reloaded tokenizer differs")
	}
	if got.Path() != filepath.Join(dir, "tokenizer.json") {
		t.Errorf("Path() = %q", got.Path())
	}

	// Without a tokenizer_config.json, Save writes one naming EOS and PAD.
	dir2 := t.TempDir()
	if err := NewByteLevel().Save(dir2); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir2, "tokenizer_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var conf map[string]any
	if err := json.Unmarshal(raw, &conf); err != nil || conf["eos_token"] != EndOfText {
		t.Errorf("tokenizer_config.json = %s (%v)", raw, err)
	}
	if _, err := Load(filepath.Join(dir2, "tokenizer.json")); err != nil {
		t.Error(err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		sub := filepath.Join(dir, strings.ReplaceAll(name, "/", "_"))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(sub, "tokenizer.json")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bl := string(ByteLevel())
	var doc map[string]any
	if err := json.Unmarshal(ByteLevel(), &doc); err != nil {
		t.Fatal(err)
	}
	doc["pre_tokenizer"] = map[string]any{"type": "Split", "pattern": map[string]any{"Regex": "(unclosed"}, "behavior": "Isolated", "invert": false}
	badSplit, _ := json.Marshal(doc)
	for _, tc := range []struct {
		name, content, want string
	}{
		{"invalid", "{not json", "not a valid tokenizer.json"},
		{"nomodel", `{"version": "1.0"}`, `no "model"`},
		{"badsplit", string(badSplit), "(unclosed"},
		{"badmodel", `{"model": {"type": "BPE", "vocab": 3}}`, "sugarme"},
	} {
		p := write(tc.name, tc.content)
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got error %v, want one naming %s and %q", tc.name, err, p, tc.want)
		}
	}
	// An eos_token that is not in the vocabulary.
	p := write("badeos", bl)
	if err := os.WriteFile(filepath.Join(filepath.Dir(p), "tokenizer_config.json"), []byte(`{"eos_token": "</s>"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "eos_token") {
		t.Errorf("bad eos_token: got %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: got %v", err)
	}
}

func BenchmarkEncodeGPT2(b *testing.B) {
	tk := loadGPT2(b)
	text := strings.Repeat("The quick brown fox jumps over the lazy dog. 今天天气很好。 ", 20)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tk.Encode(text)
	}
}

// sugarme's pipeline (used for pre-tokenizers the fast path does not
// implement) must agree with the fast path on the golden files.
func TestSugarmePipelineMatchesGolden(t *testing.T) {
	qwen, err := Load(filepath.Join(fixtures, "qwen2/tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	gpt2, err := FromBytes(loadGPT2(t).JSON(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tk     *Tokenizer
		golden string
	}{{qwen, "qwen2/golden.json"}, {gpt2, "gpt2/golden.json"}, {NewByteLevel(), "bytelevel/golden.json"}} {
		if tc.tk.fast == nil {
			t.Fatalf("%s: fast path not chosen", tc.golden)
		}
		tc.tk.fast = nil
		checkGolden(t, tc.tk, readGolden(t, tc.golden))
	}
}

// Encode and Decode are used from several goroutines (batched scoring).
func TestConcurrentEncode(t *testing.T) {
	tk := loadGPT2(t)
	cases := readGolden(t, "gpt2/golden.json")
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, c := range cases {
				if got := tk.Encode(c.Text); len(c.IDs) > 0 && !slices.Equal(got, c.IDs) {
					t.Errorf("Encode(%q) = %v, want %v", c.Text, got, c.IDs)
				}
				tk.Decode(c.IDs)
			}
		}()
	}
	wg.Wait()
}

// Added tokens keep the ids of the file even when they leave gaps.
func TestAddedTokenIDsWithGaps(t *testing.T) {
	tk, err := FromBytes(byteLevelJSON(byteAlphabet(), nil, []string{"<a>", "<b>", "<ab>"}, []int{300, 299, 512}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tk.Encode("x<b>y<a><ab>"), []int{'x', 299, 'y', 300, 512}; !slices.Equal(got, want) {
		t.Errorf("Encode = %v, want %v", got, want)
	}
	if tk.VocabSize() != 513 {
		t.Errorf("VocabSize = %d, want 513", tk.VocabSize())
	}
	if s, ok := tk.IDToToken(299); !ok || s != "<b>" {
		t.Errorf("IDToToken(299) = %q, %v", s, ok)
	}
	if got := tk.Decode([]int{512, 'z', 299}); got != "<ab>z<b>" {
		t.Errorf("Decode = %q", got)
	}
}

func TestAddsBOS(t *testing.T) {
	bl := NewByteLevel()
	if bl.AddsBOS() {
		t.Error("the byte-level tokenizer has no BOS to add")
	}
	withBOS := func(config string) *Tokenizer {
		t.Helper()
		var doc map[string]any
		if err := json.Unmarshal(ByteLevel(), &doc); err != nil {
			t.Fatal(err)
		}
		added := doc["added_tokens"].([]any)
		doc["added_tokens"] = append(added, map[string]any{"id": 257, "content": "<s>", "special": true,
			"single_word": false, "lstrip": false, "rstrip": false, "normalized": false})
		doc["post_processor"] = map[string]any{"type": "TemplateProcessing",
			"single":         []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}},
			"pair":           []any{},
			"special_tokens": map[string]any{"<s>": map[string]any{"id": "<s>", "ids": []any{257}, "tokens": []any{"<s>"}}}}
		raw, _ := json.Marshal(doc)
		tk, err := FromBytes(raw, []byte(config))
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	if tk := withBOS(`{}`); !tk.AddsBOS() || tk.BOS() != 257 {
		t.Errorf("a TemplateProcessing that starts with <s> adds BOS (got %v, bos %d)", tk.AddsBOS(), tk.BOS())
	}
	if tk := withBOS(`{"add_bos_token": false}`); tk.AddsBOS() {
		t.Error("add_bos_token: false must win over the post-processor")
	}
}
