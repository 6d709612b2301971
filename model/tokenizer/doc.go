// Package tokenizer loads, runs, builds and trains Hugging Face `tokenizer.json`
// tokenizers for the models of package model.
//
// It holds one concept: a [Tokenizer], which turns text into token ids and
// back. Files are read with github.com/sugarme/tokenizer (a Go port of HF
// tokenizers) and this package fixes the places where that port differs from
// HF on the files our models use:
//
//   - added and special tokens ("<|endoftext|>", "<|im_start|>", ...) that
//     appear inside the text are split out here and mapped to their ids
//     (sugarme silently drops them);
//   - `Split` pre-tokenizer patterns and the GPT-2 `ByteLevel` pattern are run
//     with github.com/dlclark/regexp2, because they use look-ahead (`\s+(?!\S)`)
//     that Go's regexp cannot compile (sugarme panics on Qwen2 and Llama-3
//     files, and its ByteLevel step ignores `use_regex: false`);
//   - the BPE options `ignore_merges` (Llama-3) and `byte_fallback` (Llama-2,
//     Mistral) are honoured;
//   - NFC/NFD/NFKC/NFKD normalizers use golang.org/x/text (sugarme's NFC
//     produced NFD);
//   - Metaspace (newer Llama-2 and Mistral files) replaces spaces only,
//     honours `split` and prepends to the first segment only with
//     prepend_scheme "first"; its decoder drops the prepended space;
//   - byte-level decoding joins the tokens' bytes, added tokens verbatim,
//     and replaces ill-formed UTF-8 by U+FFFD per maximal subpart, as HF's
//     from_utf8_lossy does (sugarme's ByteLevel decoder keeps them raw);
//     DecodeBytes keeps the exact bytes.
//
// For BPE models behind Split, ByteLevel and Metaspace pre-tokenizers (or
// none), Encode runs its own string-level pipeline (fast.go); other
// pre-tokenizers (Whitespace, Digits, Punctuation, ...) go through sugarme's
// pipeline.
//
// [ByteLevel] builds a byte-level tokenizer that needs no training (256 byte
// tokens plus `<|endoftext|>`), and [Train] trains a byte-level BPE on text
// with a deterministic trainer of our own (bpetrain.go says why).
//
// Golden ids for the tests come from independent implementations (OpenAI's
// GPT-2 encoder ported to JS, HF's tokenizers.js); testdata/tokenizer/gen.cjs
// rebuilds the fixtures.
//
// Naming: "id" is a token id (int), "token" is the vocabulary string of one
// id (byte-level tokens use GPT-2's byte-to-unicode alphabet, e.g. "Ġ" is a
// space), "added tokens" are the `added_tokens` of tokenizer.json, "special"
// ones among them are those marked `special: true`.
package tokenizer
