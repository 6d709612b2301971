package tokenizer

import (
	"encoding/json"
	"fmt"

	"github.com/sugarme/tokenizer/pretokenizer"
)

// EndOfText is the special token that ends documents in the tokenizers this
// package builds (the GPT-2 convention).
const EndOfText = "<|endoftext|>"

// byteLevelModel is the `model` object of a byte-level BPE tokenizer.json.
type byteLevelModel struct {
	Type                    string         `json:"type"`
	Dropout                 *float64       `json:"dropout"`
	UnkToken                *string        `json:"unk_token"`
	ContinuingSubwordPrefix *string        `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string        `json:"end_of_word_suffix"`
	FuseUnk                 bool           `json:"fuse_unk"`
	ByteFallback            bool           `json:"byte_fallback"`
	IgnoreMerges            bool           `json:"ignore_merges"`
	Vocab                   map[string]int `json:"vocab"`
	Merges                  [][2]string    `json:"merges"`
}

type fullAddedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// byteLevelJSON renders a GPT-2 style byte-level BPE tokenizer.json (ByteLevel
// pre-tokenizer with GPT-2's pattern, no prefix space, ByteLevel decoder) with
// the given vocabulary, merges and special tokens (ids given by specials).
func byteLevelJSON(vocab map[string]int, merges [][2]string, specials []string, specialIDs []int) []byte {
	bl := map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
	added := []fullAddedToken{}
	for i, s := range specials {
		added = append(added, fullAddedToken{ID: specialIDs[i], Content: s, Special: true})
	}
	if merges == nil {
		merges = [][2]string{}
	}
	doc := map[string]any{
		"version":        "1.0",
		"truncation":     nil,
		"padding":        nil,
		"added_tokens":   added,
		"normalizer":     nil,
		"pre_tokenizer":  bl,
		"post_processor": map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true},
		"decoder":        bl,
		"model":          byteLevelModel{Type: "BPE", Vocab: vocab, Merges: merges},
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("tokenizer: rendering tokenizer.json: %v", err)) // only plain types above
	}
	return append(out, '\n')
}

// byteAlphabet returns the 256 byte tokens (GPT-2's byte-to-unicode mapping)
// with id = byte value.
func byteAlphabet() map[string]int {
	vocab := make(map[string]int, 256)
	for b := 0; b < 256; b++ {
		vocab[pretokenizer.BytesChar[uint8(b)]] = b
	}
	return vocab
}

// ByteLevel returns the tokenizer.json of a byte-level tokenizer that needs no
// training and covers every language: ids 0-255 are the bytes 0-255 (spelled
// with GPT-2's byte-to-unicode alphabet), id 256 is the special token
// <|endoftext|>. It is a BPE model with no merges, so every byte of the UTF-8
// text is one token. Both Load and HF `tokenizers` read it.
func ByteLevel() []byte {
	return byteLevelJSON(byteAlphabet(), nil, []string{EndOfText}, []int{256})
}

// NewByteLevel returns the tokenizer described by ByteLevel().
func NewByteLevel() *Tokenizer {
	t, err := FromBytes(ByteLevel(), nil)
	if err != nil {
		panic(fmt.Sprintf("tokenizer: byte-level tokenizer does not load: %v", err))
	}
	return t
}

// WriteByteLevel writes ByteLevel() to path (atomically).
func WriteByteLevel(path string) error {
	return writeFileAtomic(path, ByteLevel())
}
