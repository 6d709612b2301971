#!/usr/bin/env python3
"""Builds the golden fixtures of model/golden_test.go.

For each architecture (gpt2, llama, qwen2, bloom) this writes a tiny random
model in Hugging Face layout under testdata/models/<arch>/ (config.json,
model.safetensors) and expected.json: input ids, attention mask, position
ids and the logits computed here by an independent numpy implementation that
follows transformers' modeling code (GPT2LMHeadModel, LlamaForCausalLM,
Qwen2ForCausalLM, BloomForCausalLM). Position ids are cumsum(mask)-1, as
transformers' generate() passes them for left-padded batches.

Run from the repository root with Debian's python3-numpy:
    apt-get install -y python3-numpy && python3 testdata/models/make_golden.py
The Go tests never run it; they read what it wrote.
"""
import json
import math
import os
import struct

import numpy as np

OUT = os.path.dirname(os.path.abspath(__file__))
VOCAB = 300


def to_bf16(a):
    """Round float32 to bfloat16 (nearest even); return (uint16 bits, float32 value)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = a.view(np.uint32).astype(np.uint64)
    r = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)
    return r, (r.astype(np.uint32) << 16).view(np.float32)


def write_safetensors(path, tensors, dtype):
    """tensors: dict name -> float32 array; dtype: F32, F16 or BF16. Returns
    the values as stored (rounded), which the reference must use."""
    header, blobs, stored, off = {"__metadata__": {"format": "pt"}}, [], {}, 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name], dtype=np.float32)
        if dtype == "F32":
            raw, val = a.astype("<f4").tobytes(), a
        elif dtype == "F16":
            h = a.astype("<f2")
            raw, val = h.tobytes(), h.astype(np.float32)
        else:
            bits, val = to_bf16(a)
            raw = bits.astype("<u2").tobytes()
        stored[name] = val.reshape(a.shape)
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    return stored


# ---- reference ops (transformers semantics) ----

def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def rms_norm(x, w, eps):
    var = (x.astype(np.float64) ** 2).mean(-1, keepdims=True)
    return (x / np.sqrt(var + eps)) * w


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def silu(x):
    return x / (1.0 + np.exp(-x))


def softmax(x):
    x = x - x.max(-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(-1, keepdims=True)


def attention(q, k, v, mask, bias=None):
    """q [B,n,T,d]; k,v [B,n,T,d]; mask [B,T] of 0/1. Causal + padding mask
    with finfo(float32).min fill, as transformers' eager attention."""
    d = q.shape[-1]
    T = q.shape[2]
    s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d)
    if bias is not None:
        s = s + bias
    allowed = np.tril(np.ones((T, T), bool))[None, None] & (mask[:, None, None, :] > 0)
    s = np.where(allowed, s, np.finfo(np.float32).min)
    return softmax(s) @ v


def split_heads(x, n):
    B, T, D = x.shape
    return x.reshape(B, T, n, D // n).transpose(0, 2, 1, 3)


def merge_heads(x):
    B, n, T, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, n * d)


def rope(x, pos, theta):
    d = x.shape[-1]
    inv = 1.0 / (theta ** (np.arange(0, d, 2, dtype=np.float64) / d))
    f = pos[:, :, None].astype(np.float64) * inv[None, None, :]
    emb = np.concatenate([f, f], -1)
    cos, sin = np.cos(emb)[:, None], np.sin(emb)[:, None]
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    rot = np.concatenate([-x2, x1], -1)
    return x * cos + rot * sin


def alibi_slopes(n):
    closest = 2 ** math.floor(math.log2(n))
    base = 2 ** (-(2 ** -(math.log2(closest) - 3)))
    s = [base ** i for i in range(1, closest + 1)]
    if closest != n:
        extra = 2 ** (-(2 ** -(math.log2(2 * closest) - 3)))
        s += [extra ** i for i in range(1, 2 * (n - closest), 2)]
    return np.array(s)


# ---- models ----

def gpt2_logits(w, c, ids, mask, pos):
    n, eps = c["n_head"], c["layer_norm_epsilon"]
    x = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][pos]
    for l in range(c["n_layer"]):
        p = f"transformer.h.{l}."
        h = layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = np.split(qkv, 3, axis=2)
        a = merge_heads(attention(split_heads(q, n), split_heads(k, n), split_heads(v, n), mask))
        x = x + a @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        h = layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        h = gelu_tanh(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        x = x + h @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    x = layer_norm(x, w["transformer.ln_f.weight"], w["transformer.ln_f.bias"], eps)
    return x, x @ w["transformer.wte.weight"].T


def llama_logits(w, c, ids, mask, pos):
    n, kv, eps = c["num_attention_heads"], c["num_key_value_heads"], c["rms_norm_eps"]
    rep = n // kv
    lin = lambda x, name: x @ w[name + ".weight"].T + (w[name + ".bias"] if name + ".bias" in w else 0)
    x = w["model.embed_tokens.weight"][ids]
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = rope(split_heads(lin(h, p + "self_attn.q_proj"), n), pos, c["rope_theta"])
        k = rope(split_heads(lin(h, p + "self_attn.k_proj"), kv), pos, c["rope_theta"])
        v = split_heads(lin(h, p + "self_attn.v_proj"), kv)
        k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)  # repeat_kv
        x = x + lin(merge_heads(attention(q, k, v, mask)), p + "self_attn.o_proj")
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        x = x + lin(silu(lin(h, p + "mlp.gate_proj")) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if c["tie_word_embeddings"] else w["lm_head.weight"]
    return x, x @ head.T


def bloom_logits(w, c, ids, mask, pos):
    n, eps, H = c["n_head"], c["layer_norm_epsilon"], c["hidden_size"]
    d = H // n
    lin = lambda x, name: x @ w[name + ".weight"].T + w[name + ".bias"]
    B, T = ids.shape
    arange = ((np.cumsum(mask, -1) - 1) * mask)[:, None, :]
    alibi = (alibi_slopes(n)[None, :, None] * arange)[:, :, None, :]  # [B,n,1,T]
    x = w["transformer.word_embeddings.weight"][ids]
    x = layer_norm(x, w["transformer.word_embeddings_layernorm.weight"], w["transformer.word_embeddings_layernorm.bias"], eps)
    for l in range(c["n_layer"]):
        p = f"transformer.h.{l}."
        ln = layer_norm(x, w[p + "input_layernorm.weight"], w[p + "input_layernorm.bias"], eps)
        fused = lin(ln, p + "self_attention.query_key_value").reshape(B, T, n, 3, d)
        q, k, v = (fused[..., i, :].transpose(0, 2, 1, 3) for i in range(3))
        a = merge_heads(attention(q, k, v, mask, bias=alibi))
        x = x + lin(a, p + "self_attention.dense")
        ln = layer_norm(x, w[p + "post_attention_layernorm.weight"], w[p + "post_attention_layernorm.bias"], eps)
        x = x + lin(gelu_tanh(lin(ln, p + "mlp.dense_h_to_4h")), p + "mlp.dense_4h_to_h")
    x = layer_norm(x, w["transformer.ln_f.weight"], w["transformer.ln_f.bias"], eps)
    return x, x @ w["transformer.word_embeddings.weight"].T


def rnd(rng, *shape, std=0.2):
    return (rng.standard_normal(shape) * std).astype(np.float32)


def norm_params(rng, H):
    return 1 + rnd(rng, H, std=0.1), rnd(rng, H, std=0.1)


def build_gpt2(rng):
    H, L, n, P = 32, 2, 4, 16
    c = {"model_type": "gpt2", "architectures": ["GPT2ForSequenceClassification"], "vocab_size": VOCAB,
         "n_embd": H, "n_layer": L, "n_head": n, "n_positions": P, "n_ctx": P, "layer_norm_epsilon": 1e-5,
         "activation_function": "gelu_new", "bos_token_id": 256, "eos_token_id": 256, "num_labels": 1,
         "id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}}
    w = {"transformer.wte.weight": rnd(rng, VOCAB, H), "transformer.wpe.weight": rnd(rng, P, H)}
    for l in range(L):
        p = f"transformer.h.{l}."
        w[p + "ln_1.weight"], w[p + "ln_1.bias"] = norm_params(rng, H)
        w[p + "ln_2.weight"], w[p + "ln_2.bias"] = norm_params(rng, H)
        w[p + "attn.c_attn.weight"], w[p + "attn.c_attn.bias"] = rnd(rng, H, 3 * H), rnd(rng, 3 * H)
        w[p + "attn.c_proj.weight"], w[p + "attn.c_proj.bias"] = rnd(rng, H, H), rnd(rng, H)
        w[p + "mlp.c_fc.weight"], w[p + "mlp.c_fc.bias"] = rnd(rng, H, 4 * H), rnd(rng, 4 * H)
        w[p + "mlp.c_proj.weight"], w[p + "mlp.c_proj.bias"] = rnd(rng, 4 * H, H), rnd(rng, H)
    w["transformer.ln_f.weight"], w["transformer.ln_f.bias"] = norm_params(rng, H)
    w["score.weight"] = rnd(rng, 1, H)
    return c, w, "F32", gpt2_logits


def build_llama_like(rng, arch):
    H, L, n, kv, I = 32, 2, 4, 2, 48
    qwen = arch == "qwen2"
    c = {"model_type": arch, "architectures": ["Qwen2ForCausalLM" if qwen else "LlamaForCausalLM"],
         "vocab_size": VOCAB, "hidden_size": H, "num_hidden_layers": L, "num_attention_heads": n,
         "num_key_value_heads": kv, "intermediate_size": I, "rms_norm_eps": 1e-6,
         "rope_theta": 1000000.0 if qwen else 10000.0, "max_position_embeddings": 64, "hidden_act": "silu",
         "tie_word_embeddings": qwen, "bos_token_id": 256, "eos_token_id": 256, "rope_scaling": None}
    d = H // n
    w = {"model.embed_tokens.weight": rnd(rng, VOCAB, H)}
    for l in range(L):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = norm_params(rng, H)[0]
        w[p + "post_attention_layernorm.weight"] = norm_params(rng, H)[0]
        w[p + "self_attn.q_proj.weight"] = rnd(rng, n * d, H)
        w[p + "self_attn.k_proj.weight"] = rnd(rng, kv * d, H)
        w[p + "self_attn.v_proj.weight"] = rnd(rng, kv * d, H)
        w[p + "self_attn.o_proj.weight"] = rnd(rng, H, n * d)
        if qwen:
            w[p + "self_attn.q_proj.bias"] = rnd(rng, n * d)
            w[p + "self_attn.k_proj.bias"] = rnd(rng, kv * d)
            w[p + "self_attn.v_proj.bias"] = rnd(rng, kv * d)
        w[p + "mlp.gate_proj.weight"] = rnd(rng, I, H)
        w[p + "mlp.up_proj.weight"] = rnd(rng, I, H)
        w[p + "mlp.down_proj.weight"] = rnd(rng, H, I)
    w["model.norm.weight"] = norm_params(rng, H)[0]
    if not qwen:
        w["lm_head.weight"] = rnd(rng, VOCAB, H)
    return c, w, ("BF16" if qwen else "F32"), llama_logits


def build_bloom(rng):
    H, L, n = 48, 2, 6  # 6 heads: exercises the non-power-of-two ALiBi slopes
    c = {"model_type": "bloom", "architectures": ["BloomForCausalLM"], "vocab_size": VOCAB, "hidden_size": H,
         "n_layer": L, "n_head": n, "layer_norm_epsilon": 1e-5, "bos_token_id": 256, "eos_token_id": 256,
         "apply_residual_connection_post_layernorm": False}
    w = {"transformer.word_embeddings.weight": rnd(rng, VOCAB, H)}
    w["transformer.word_embeddings_layernorm.weight"], w["transformer.word_embeddings_layernorm.bias"] = norm_params(rng, H)
    for l in range(L):
        p = f"transformer.h.{l}."
        w[p + "input_layernorm.weight"], w[p + "input_layernorm.bias"] = norm_params(rng, H)
        w[p + "post_attention_layernorm.weight"], w[p + "post_attention_layernorm.bias"] = norm_params(rng, H)
        w[p + "self_attention.query_key_value.weight"] = rnd(rng, 3 * H, H)
        w[p + "self_attention.query_key_value.bias"] = rnd(rng, 3 * H)
        w[p + "self_attention.dense.weight"], w[p + "self_attention.dense.bias"] = rnd(rng, H, H), rnd(rng, H)
        w[p + "mlp.dense_h_to_4h.weight"], w[p + "mlp.dense_h_to_4h.bias"] = rnd(rng, 4 * H, H), rnd(rng, 4 * H)
        w[p + "mlp.dense_4h_to_h.weight"], w[p + "mlp.dense_4h_to_h.bias"] = rnd(rng, H, 4 * H), rnd(rng, H)
    w["transformer.ln_f.weight"], w["transformer.ln_f.bias"] = norm_params(rng, H)
    return c, w, "F16", bloom_logits


def main():
    # Row 0: 7 real tokens; row 1: 4 real tokens, left-padded.
    ids = np.array([[256, 72, 101, 108, 108, 111, 33], [0, 0, 0, 256, 228, 189, 160]], dtype=np.int64)
    mask = np.array([[1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 1]], dtype=np.int64)
    pos = np.maximum(np.cumsum(mask, -1) - 1, 0)
    builders = {"gpt2": lambda r: build_gpt2(r), "llama": lambda r: build_llama_like(r, "llama"),
                "qwen2": lambda r: build_llama_like(r, "qwen2"), "bloom": lambda r: build_bloom(r)}
    for i, (arch, build) in enumerate(builders.items()):
        rng = np.random.default_rng(1000 + i)
        cfg, weights, dtype, fwd = build(rng)
        d = os.path.join(OUT, arch)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        stored = write_safetensors(os.path.join(d, "model.safetensors"), weights, dtype)
        w64 = {k: v.astype(np.float64) for k, v in stored.items()}
        hidden, logits = fwd(w64, cfg, ids, mask, pos)
        exp = {"input_ids": ids.tolist(), "attention_mask": mask.tolist(), "position_ids": pos.tolist(),
               "dtype": dtype, "logits": np.round(logits, 6).tolist()}
        if "score.weight" in w64:
            last = (np.arange(ids.shape[1])[None] * mask).argmax(-1)
            exp["scores"] = [float(hidden[b, last[b]] @ w64["score.weight"][0]) for b in range(ids.shape[0])]
        with open(os.path.join(d, "expected.json"), "w") as f:
            json.dump(exp, f, separators=(",", ":"))
        print(arch, dtype, "logits", logits.shape, "max |logit|", float(np.abs(logits).max()))


if __name__ == "__main__":
    main()
