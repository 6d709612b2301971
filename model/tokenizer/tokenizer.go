package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	sm "github.com/sugarme/tokenizer"
	"github.com/sugarme/tokenizer/pretokenizer"
	"github.com/sugarme/tokenizer/pretrained"
	"golang.org/x/text/encoding/unicode"

	"github.com/rlhf-project/rlhf/atomicfile"
)

// Tokenizer encodes text to token ids and decodes them back, as the Hugging
// Face tokenizer described by a tokenizer.json file does. It is safe for
// concurrent use once loaded.
type Tokenizer struct {
	path      string // file it was loaded from ("" when built from bytes)
	raw       []byte // tokenizer.json content, as loaded
	rawConfig []byte // tokenizer_config.json content, nil if there was none

	chatTemplate     string // Jinja chat template ("" if none)
	chatTemplateErr  error  // why tokenizer_config.json's chat_template is not usable
	chatTemplateFrom string // where it was read, for errors
	chatTemplateFile bool   // it came from chat_template.jinja (Save writes it back)

	tk        *sm.Tokenizer
	fast      *fastPipeline // nil: encode with sugarme's pipeline
	byteLevel bool          // decoder is ByteLevel: decode token strings to raw bytes

	added     map[string]int // added token content -> id
	addedByID map[int]string
	special   map[int]bool
	addedRe   *regexp.Regexp // matches any added token (longest first); nil if none

	vocabSize     int
	eos, bos, pad int
	addsBOS       bool
}

// addedToken is one entry of tokenizer.json's `added_tokens`.
type addedToken struct {
	ID      int    `json:"id"`
	Content string `json:"content"`
	Special bool   `json:"special"`
	LStrip  bool   `json:"lstrip"`
	RStrip  bool   `json:"rstrip"`
}

// Load reads a Hugging Face tokenizer.json file. When a tokenizer_config.json
// sits next to it, its eos_token, bos_token and pad_token choose EOS, BOS and
// PAD. Errors name the file and what is wrong with it.
func Load(path string) (*Tokenizer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	cfgPath := filepath.Join(filepath.Dir(path), "tokenizer_config.json")
	rawConfig, err := os.ReadFile(cfgPath)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		rawConfig = nil
	}
	t, err := FromBytes(raw, rawConfig)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", path, err)
	}
	t.path = path
	if t.chatTemplate != "" || t.chatTemplateErr != nil {
		t.chatTemplateFrom = cfgPath + " (chat_template)"
	}
	// chat_template.jinja beside it wins, as in transformers.
	jinjaPath := filepath.Join(filepath.Dir(path), ChatTemplateFile)
	if b, err := os.ReadFile(jinjaPath); err == nil {
		t.chatTemplate, t.chatTemplateFrom, t.chatTemplateFile, t.chatTemplateErr = string(b), jinjaPath, true, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return t, nil
}

// ChatTemplateFile is the file that holds a chat template beside
// tokenizer_config.json (newer transformers write it there).
const ChatTemplateFile = "chat_template.jinja"

// ChatTemplate is the Jinja chat template of the tokenizer: the
// chat_template.jinja file beside tokenizer.json, else tokenizer_config.json's
// chat_template (its "default" entry when it is a list of named templates);
// "" when there is none. from says where it was read. err says why
// tokenizer_config.json's chat_template cannot be used (a list without
// "default", not a string); the tokenizer itself is fine.
func (t *Tokenizer) ChatTemplate() (source, from string, err error) {
	if t.chatTemplateErr != nil {
		return "", t.chatTemplateFrom, fmt.Errorf("%s: %w", t.chatTemplateFrom, t.chatTemplateErr)
	}
	return t.chatTemplate, t.chatTemplateFrom, nil
}

// chatTemplateOf reads tokenizer_config.json's chat_template: a string, or a
// list of {"name", "template"} of which "default" is used.
func chatTemplateOf(conf map[string]any) (string, error) {
	switch v := conf["chat_template"].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case []any:
		for _, e := range v {
			if m, ok := e.(map[string]any); ok && m["name"] == "default" {
				if s, ok := m["template"].(string); ok {
					return s, nil
				}
			}
		}
		return "", errors.New(`chat_template is a list without a "default" template`)
	}
	return "", fmt.Errorf("chat_template is a %T, want a string or a list of named templates", conf["chat_template"])
}

// FromBytes builds a Tokenizer from the contents of tokenizer.json and
// (optionally, may be nil) tokenizer_config.json.
func FromBytes(tokenizerJSON, tokenizerConfigJSON []byte) (t *Tokenizer, err error) {
	var cfg map[string]any
	if err := json.Unmarshal(tokenizerJSON, &cfg); err != nil {
		return nil, fmt.Errorf("not a valid tokenizer.json: %w", err)
	}
	mcfg, ok := cfg["model"].(map[string]any)
	if !ok {
		return nil, errors.New("not a tokenizer.json: no \"model\" object")
	}
	preCfg, _ := cfg["pre_tokenizer"].(map[string]any)
	pre, err := buildPreTokenizer(preCfg)
	if err != nil {
		return nil, err
	}
	decCfg, _ := cfg["decoder"].(map[string]any)
	dec, err := buildDecoder(decCfg)
	if err != nil {
		return nil, err
	}
	normCfg, _ := cfg["normalizer"].(map[string]any)
	normer, err := buildNormalizer(normCfg)
	if err != nil {
		return nil, err
	}

	// sugarme builds the model and post-processor; the normalizer (its NFC
	// is wrong), the pre-tokenizer (it would panic on look-ahead patterns),
	// the decoder (its Metaspace keeps a leading space) and the added tokens
	// are handled here.
	var added []addedToken
	if a, ok := cfg["added_tokens"]; ok && a != nil {
		if err := json.Unmarshal(asJSON(a), &added); err != nil {
			return nil, fmt.Errorf("added_tokens: %w", err)
		}
	}
	delete(cfg, "pre_tokenizer")
	delete(cfg, "normalizer")
	delete(cfg, "decoder")
	cfg["added_tokens"] = []any{}
	cfg["truncation"] = nil
	cfg["padding"] = nil
	tk, err := safeCreate(func() (*sm.Tokenizer, error) {
		return pretrained.FromReader(bytes.NewReader(asJSON(cfg)))
	}, "sugarme")
	if err != nil {
		return nil, err
	}
	if normer != nil {
		tk.WithNormalizer(normer)
	}
	if dec != nil {
		tk.WithDecoder(dec)
	}
	if pre != nil {
		tk.WithPreTokenizer(pre)
	}
	if ignore, _ := mcfg["ignore_merges"].(bool); ignore {
		tk.WithModel(ignoreMerges{tk.GetModel()})
	}
	if fallback, _ := mcfg["byte_fallback"].(bool); fallback {
		unk, _ := mcfg["unk_token"].(string)
		tk.WithModel(newByteFallback(tk.GetModel(), unk))
	}
	fullCfg := map[string]any{"model": mcfg, "pre_tokenizer": preCfg}
	fast, err := newFastPipeline(fullCfg, normer, tk.GetModel())
	if err != nil {
		return nil, err
	}
	// Added tokens are not registered with sugarme: it would give them ids
	// of its own (the next free ones), which need not be the file's.

	t = &Tokenizer{
		raw: tokenizerJSON, rawConfig: tokenizerConfigJSON, tk: tk, fast: fast,
		added: map[string]int{}, addedByID: map[int]string{}, special: map[int]bool{},
		eos: -1, bos: -1, pad: -1,
	}
	t.byteLevel = decCfg != nil && decCfg["type"] == "ByteLevel"
	for _, id := range tk.GetModel().GetVocab() {
		t.vocabSize = max(t.vocabSize, id+1)
	}
	var alts []string
	sort.Slice(added, func(i, j int) bool { return len(added[i].Content) > len(added[j].Content) })
	for _, a := range added {
		if a.Content == "" {
			return nil, fmt.Errorf("added_tokens: id %d has empty content", a.ID)
		}
		if old, ok := t.added[a.Content]; ok && old != a.ID {
			return nil, fmt.Errorf("added_tokens: %q has two ids, %d and %d", a.Content, old, a.ID)
		}
		t.added[a.Content] = a.ID
		t.addedByID[a.ID] = a.Content
		t.special[a.ID] = a.Special
		t.vocabSize = max(t.vocabSize, a.ID+1)
		alt := regexp.QuoteMeta(a.Content)
		if a.LStrip {
			alt = `\s*` + alt
		}
		if a.RStrip {
			alt += `\s*`
		}
		alts = append(alts, alt)
	}
	if len(alts) > 0 {
		t.addedRe = regexp.MustCompile(strings.Join(alts, "|"))
	}
	if err := t.chooseSpecialIDs(tokenizerConfigJSON); err != nil {
		return nil, err
	}
	return t, nil
}

// chooseSpecialIDs sets EOS, BOS and PAD from tokenizer_config.json, falling
// back to well-known token names.
func (t *Tokenizer) chooseSpecialIDs(rawConfig []byte) error {
	var conf map[string]any
	if rawConfig != nil {
		if err := json.Unmarshal(rawConfig, &conf); err != nil {
			return fmt.Errorf("tokenizer_config.json: not valid JSON: %w", err)
		}
	}
	pick := func(key string, fallbacks ...string) (int, error) {
		// eos_token is either "..." or {"content": "..."}.
		v := conf[key]
		if m, ok := v.(map[string]any); ok {
			v = m["content"]
		}
		if s, ok := v.(string); ok {
			id, ok := t.TokenToID(s)
			if !ok {
				return -1, fmt.Errorf("tokenizer_config.json: %s %q is not in the vocabulary", key, s)
			}
			return id, nil
		}
		for _, s := range fallbacks {
			if id, ok := t.TokenToID(s); ok {
				return id, nil
			}
		}
		return -1, nil
	}
	var err error
	if t.eos, err = pick("eos_token", "<|endoftext|>", "</s>", "<|end_of_text|>", "<|im_end|>", "<eos>", "[SEP]"); err != nil {
		return err
	}
	if t.bos, err = pick("bos_token", "<s>", "<|begin_of_text|>", "<bos>"); err != nil {
		return err
	}
	if t.pad, err = pick("pad_token", "<pad>", "[PAD]", "<|pad|>"); err != nil {
		return err
	}
	if t.pad < 0 {
		t.pad = t.eos
	}
	t.addsBOS = t.bos >= 0 && t.bos != t.eos && addsBOS(conf, t.raw, t.bos)
	t.chatTemplate, t.chatTemplateErr = chatTemplateOf(conf)
	if t.chatTemplate != "" || t.chatTemplateErr != nil {
		t.chatTemplateFrom = "tokenizer_config.json (chat_template)"
	}
	return nil
}

// addsBOS tells whether Hugging Face would put BOS before a text it encodes
// with special tokens: tokenizer_config.json's add_bos_token when present
// (Llama: true), else whether tokenizer.json's post-processor template
// starts with the BOS token.
func addsBOS(conf map[string]any, tokenizerJSON []byte, bos int) bool {
	if v, ok := conf["add_bos_token"].(bool); ok {
		return v
	}
	var doc struct {
		PostProcessor json.RawMessage `json:"post_processor"`
	}
	if json.Unmarshal(tokenizerJSON, &doc) != nil {
		return false
	}
	type processor struct {
		Type   string `json:"type"`
		Single []struct {
			SpecialToken *struct {
				ID string `json:"id"`
			} `json:"SpecialToken"`
		} `json:"single"`
		SpecialTokens map[string]struct {
			IDs []int `json:"ids"`
		} `json:"special_tokens"`
		Processors []json.RawMessage `json:"processors"`
	}
	var check func(raw json.RawMessage) bool
	check = func(raw json.RawMessage) bool {
		var p processor
		if json.Unmarshal(raw, &p) != nil {
			return false
		}
		switch p.Type {
		case "TemplateProcessing":
			if len(p.Single) == 0 || p.Single[0].SpecialToken == nil {
				return false
			}
			ids := p.SpecialTokens[p.Single[0].SpecialToken.ID].IDs
			return len(ids) == 1 && ids[0] == bos
		case "Sequence":
			for _, sub := range p.Processors {
				if check(sub) {
					return true
				}
			}
		}
		return false
	}
	return len(doc.PostProcessor) > 0 && check(doc.PostProcessor)
}

// Encode turns text into token ids, adding no special tokens (no BOS, no
// template). Added and special tokens written in the text ("<|im_end|>")
// become their ids. Invalid UTF-8 is first replaced by U+FFFD, as HF
// tokenizers only accept valid strings.
func (t *Tokenizer) Encode(text string) []int {
	text = strings.ToValidUTF8(text, "\uFFFD")
	var ids []int
	last := 0
	if t.addedRe != nil {
		for _, m := range t.addedRe.FindAllStringIndex(text, -1) {
			ids = t.encodePlain(ids, text[last:m[0]], last == 0)
			tok := strings.TrimSpace(text[m[0]:m[1]]) // lstrip/rstrip whitespace belongs to the token
			ids = append(ids, t.added[tok])
			last = m[1]
		}
	}
	return t.encodePlain(ids, text[last:], last == 0)
}

// encodePlain encodes text that contains no added token; atStart tells
// whether it begins the whole text (Metaspace's prepend_scheme "first").
func (t *Tokenizer) encodePlain(ids []int, text string, atStart bool) []int {
	if text == "" {
		return ids
	}
	if t.fast != nil {
		ids, err := t.fast.encode(ids, text, atStart)
		if err != nil {
			panic(fmt.Sprintf("tokenizer: encoding %q: %v", text, err))
		}
		return ids
	}
	enc, err := t.tk.EncodeSingle(text, false)
	if err != nil {
		// sugarme fails only on internal inconsistencies (e.g. a byte with no
		// token in a broken vocabulary); there is no sensible id to return.
		panic(fmt.Sprintf("tokenizer: encoding %q: %v", text, err))
	}
	return append(ids, enc.GetIds()...)
}

// Decode turns ids back into text, special tokens included, as HF's
// decode does. The result is always valid UTF-8: a byte-level model may
// sample any bytes, and the ill-formed sequences among them (a character
// cut short, a stray continuation byte) become U+FFFD, one per maximal
// ill-formed subpart, as Rust's String::from_utf8_lossy in HF's ByteLevel
// decoder does. So Decode(ids) is fit for a UTF-8 STRING column; the ids
// remain the exact record, and DecodeBytes gives their bytes as they are.
// Non-byte-level tokenizers use the file's decoder chain on all tokens, as
// HF does. Unknown ids are skipped.
func (t *Tokenizer) Decode(ids []int) string {
	if len(ids) == 0 {
		return "" // sugarme's Strip decoder panics on no tokens
	}
	if !t.byteLevel {
		var toks []string
		for _, id := range ids {
			if tok, ok := t.IDToToken(id); ok {
				toks = append(toks, tok)
			}
		}
		if len(toks) == 0 {
			return ""
		}
		if dec := t.tk.GetDecoder(); dec != nil {
			return ValidUTF8(dec.Decode(toks))
		}
		return ValidUTF8(strings.Join(toks, " ")) // HF's default without a decoder
	}
	return ValidUTF8(string(t.DecodeBytes(ids)))
}

// DecodeBytes returns, for byte-level tokenizers, the exact bytes the ids
// stand for (added tokens verbatim), which need not be valid UTF-8: a
// prefix of a sequence may end inside a character, and a model may sample
// any bytes. Other tokenizers return Decode's text.
func (t *Tokenizer) DecodeBytes(ids []int) []byte {
	if !t.byteLevel {
		return []byte(t.Decode(ids))
	}
	var out []byte
	for _, id := range ids {
		if s, ok := t.addedByID[id]; ok {
			out = append(out, s...)
			continue
		}
		tok, ok := t.tk.GetModel().IdToToken(id)
		if !ok {
			continue
		}
		for _, r := range tok {
			if b, ok := charBytes[r]; ok {
				out = append(out, b)
			} else {
				out = utf8.AppendRune(out, r)
			}
		}
	}
	return out
}

// ValidUTF8 returns s with every maximal ill-formed subpart replaced by
// U+FFFD (the Unicode standard's recommended practice, which Rust's
// from_utf8_lossy and so HF's decode follow: "\xe4\xb8" is one U+FFFD,
// "\xff\xfe" two). Valid text is returned as it is.
func ValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out, err := unicode.UTF8.NewDecoder().String(s)
	if err != nil {
		// The UTF-8 decoder replaces, it does not fail; keep the
		// guarantee anyway.
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	return out
}

// charBytes inverts GPT-2's byte-to-unicode alphabet.
var charBytes = func() map[rune]byte {
	m := make(map[rune]byte, 256)
	for s, b := range pretokenizer.CharBytes {
		r, _ := utf8.DecodeRuneInString(s)
		m[r] = b
	}
	return m
}()

// VocabSize is one more than the largest id, added tokens included: the
// number of rows an embedding matrix needs.
func (t *Tokenizer) VocabSize() int { return t.vocabSize }

// EOS is the id of the end-of-text token: tokenizer_config.json's eos_token
// when present, else the first of <|endoftext|>, </s>, <|end_of_text|>,
// <|im_end|>, <eos>, [SEP] in the vocabulary; -1 if none.
func (t *Tokenizer) EOS() int { return t.eos }

// BOS is the id of the beginning-of-text token (bos_token, else <s>,
// <|begin_of_text|>, <bos>); -1 if none. Encode never adds it.
func (t *Tokenizer) BOS() int { return t.bos }

// AddsBOS tells whether BOS goes before a prompt, as Hugging Face's
// tokenizer does when it adds special tokens: tokenizer_config.json's
// add_bos_token (Llama: true), else whether the post-processor template
// starts with BOS (false for GPT-2, Qwen2, BLOOM and our byte-level file).
func (t *Tokenizer) AddsBOS() bool { return t.addsBOS }

// PAD is the id used to pad batches: pad_token when set, else <pad>, [PAD],
// <|pad|>, else EOS.
func (t *Tokenizer) PAD() int { return t.pad }

// IsSpecial reports whether id is an added token marked special.
func (t *Tokenizer) IsSpecial(id int) bool { return t.special[id] }

// TokenToID returns the id of a vocabulary or added token.
func (t *Tokenizer) TokenToID(token string) (int, bool) {
	if id, ok := t.added[token]; ok {
		return id, true
	}
	return t.tk.GetModel().TokenToId(token)
}

// IDToToken returns the vocabulary string of an id.
func (t *Tokenizer) IDToToken(id int) (string, bool) {
	if s, ok := t.addedByID[id]; ok {
		return s, true
	}
	return t.tk.GetModel().IdToToken(id)
}

// Path is the file the tokenizer was loaded from ("" if built from bytes).
func (t *Tokenizer) Path() string { return t.path }

// JSON returns the tokenizer.json content the tokenizer was built from.
func (t *Tokenizer) JSON() []byte { return bytes.Clone(t.raw) }

// Save writes tokenizer.json and tokenizer_config.json (and the
// chat_template.jinja it was loaded with) into dir (created if
// needed), so that HF's AutoTokenizer and Load read the same tokenizer back.
// The tokenizer.json bytes are the ones loaded; tokenizer_config.json is the
// loaded one, or a minimal one naming the EOS, BOS and PAD tokens. Each file
// is written to a temporary file, synced and renamed into place.
func (t *Tokenizer) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("tokenizer: save: %w", err)
	}
	conf := t.rawConfig
	if conf == nil {
		m := map[string]any{"tokenizer_class": "PreTrainedTokenizerFast"}
		for key, id := range map[string]int{"eos_token": t.eos, "bos_token": t.bos, "pad_token": t.pad} {
			if s, ok := t.IDToToken(id); ok && id >= 0 {
				m[key] = s
			}
		}
		conf, _ = json.MarshalIndent(m, "", "  ")
	}
	if err := writeFileAtomic(filepath.Join(dir, "tokenizer.json"), t.raw); err != nil {
		return err
	}
	if t.chatTemplateFile {
		if err := writeFileAtomic(filepath.Join(dir, ChatTemplateFile), []byte(t.chatTemplate)); err != nil {
			return err
		}
	}
	return writeFileAtomic(filepath.Join(dir, "tokenizer_config.json"), conf)
}

// writeFileAtomic writes data to path (creating its directory) so that a
// crash never leaves a half-written file there.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("tokenizer: write %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	return nil
}

// ignoreMerges implements the BPE option `ignore_merges` (Llama-3): a
// pre-tokenized word that is itself in the vocabulary becomes that one token
// without applying merges. sugarme has no such option.
type ignoreMerges struct{ sm.Model }

func (m ignoreMerges) Tokenize(seq string) ([]sm.Token, error) {
	if id, ok := m.Model.TokenToId(seq); ok {
		return []sm.Token{{Id: id, Value: seq, Offsets: []int{0, len(seq)}}}, nil
	}
	return m.Model.Tokenize(seq)
}

// byteFallback implements the BPE option `byte_fallback` (Llama-2, Mistral):
// a character missing from the vocabulary becomes the tokens <0xXX> of its
// UTF-8 bytes instead of <unk>. sugarme ignores the option (and panics on
// unknown characters when there is no unk_token). Runs of known characters
// are merged on their own, as merges never involve byte tokens.
type byteFallback struct {
	sm.Model
	bytes [256]int // id of <0xXX>, -1 if missing
	unk   int      // id of unk_token, -1 if none
}

func newByteFallback(m sm.Model, unkToken string) byteFallback {
	b := byteFallback{Model: m, unk: -1}
	for i := range b.bytes {
		id, ok := m.TokenToId(fmt.Sprintf("<0x%02X>", i))
		if !ok {
			id = -1
		}
		b.bytes[i] = id
	}
	if id, ok := m.TokenToId(unkToken); ok && unkToken != "" {
		b.unk = id
	}
	return b
}

func (m byteFallback) Tokenize(seq string) ([]sm.Token, error) {
	var out []sm.Token
	start := 0
	flush := func(end int) error {
		if end <= start {
			return nil
		}
		toks, err := m.Model.Tokenize(seq[start:end])
		for _, t := range toks {
			out = append(out, sm.Token{Id: t.Id, Value: t.Value, Offsets: []int{t.Offsets[0] + start, t.Offsets[1] + start}})
		}
		return err
	}
	for i, r := range seq {
		ch := seq[i : i+utf8.RuneLen(r)]
		if _, ok := m.Model.TokenToId(ch); ok {
			continue
		}
		if err := flush(i); err != nil {
			return nil, err
		}
		start = i + len(ch)
		var ids []int
		for _, c := range []byte(ch) {
			if m.bytes[c] < 0 {
				ids = nil
				break
			}
			ids = append(ids, m.bytes[c])
		}
		if ids == nil && m.unk >= 0 {
			ids = []int{m.unk}
		}
		if ids == nil {
			return nil, fmt.Errorf("character %q has no token, no byte tokens and there is no unk_token", ch)
		}
		for _, id := range ids {
			tok, _ := m.Model.IdToToken(id)
			out = append(out, sm.Token{Id: id, Value: tok, Offsets: []int{i, start}})
		}
	}
	if err := flush(len(seq)); err != nil {
		return nil, err
	}
	return out, nil
}
