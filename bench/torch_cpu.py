#!/usr/bin/python3
"""Plain-PyTorch CPU (fp32) baseline for rlhf's Go benchmarks.

What it measures, at the named shapes of bench/bench.go (Shapes), the same
two things bench.TrainStep and bench.Generate measure for rlhf's Go model:

  train     one step = forward, causal-LM cross-entropy (shifted, mean),
            backward, clip_grad_norm_(1.0), AdamW(lr=1e-4, weight_decay=0.01)
            step, zero_grad, on batch x seq random token ids. One untimed
            warm-up step, then --steps timed ones;
            tokens/s = batch*seq*steps/seconds.
  generate  KV-cache sampling (temperature 1, no EOS) of batch prompts of
            prompt_len tokens, under torch.no_grad(): one prefill, whose
            logits give the first new token, then single-token steps into a
            preallocated per-layer K/V cache until every row has new_tokens
            tokens (as model.Decoder.Generate). One untimed short warm-up run,
            then --steps timed runs, prefill included;
            tokens/s = batch*new_tokens*steps/seconds.

The decoder is written here in plain torch (no transformers) and mirrors
rlhf's Go model (model/weights.go, model.NewConfig) weight for weight, so the
parameter counts and FLOPs match:
  gpt2   learned position embeddings (max(1024, seq, prompt+new+16) rows),
         pre-LayerNorm blocks (eps 1e-5), fused qkv linear with bias, output
         projection with bias, MLP hidden->4*hidden->hidden with tanh-GELU,
         final LayerNorm, LM head tied to the token embedding.
  qwen2  RMSNorm (eps 1e-6), rotary embeddings (theta 1e6, rotate-half),
         q/k/v projections with bias, GQA by repeating kv heads, o_proj
         without bias, SwiGLU MLP (silu), final RMSNorm, tied embeddings.
Attention is causal softmax attention written by hand (PyTorch 1.13 has no
scaled_dot_product_attention).

Run with Debian's python and PyTorch (fp32 GEMMs go to OpenBLAS):
  apt-get install -y python3-torch libopenblas0-pthread
  /usr/bin/python3 bench/torch_cpu.py --shape tiny --mode train [--steps N] [--threads T]
It prints one JSON line, merged by `make bench-compare` with the Go rows:
  {"impl":"torch","shape":..,"mode":..,"tokens_per_s":..,"params":..,"batch":..,"seq":..,"seconds":..,...}
seq is the training sequence length, or the new tokens per row in generate
mode (as bench.Result). --threads (default: the CPUs this process may run on,
as Go's GOMAXPROCS) sets both torch's intra-op threads and OpenBLAS's;
OMP_WAIT_POLICY defaults to PASSIVE so the two pools do not spin against
each other.

--as-installed measures PyTorch as a user gets it: OMP_WAIT_POLICY unset, no
thread counts set (torch's and OpenBLAS's own defaults), and prints
"impl":"torch-as-installed", a check that the tuned run above (the one rlhf's
targets are measured against) is not slower than the defaults. (Only
OMP_WAIT_POLICY=ACTIVE, idle OpenMP threads spinning against OpenBLAS's,
makes training ~3x slower on 2 cores: 235 vs 811 tokens/s at mid.)
"""
import argparse
import ctypes
import json
import math
import os
import sys
import time

# torch's OpenMP threads and OpenBLAS's pthreads take turns on the same cores:
# without this, idle OpenMP threads spin while OpenBLAS runs a GEMM (up to 3x
# slower on a 2-core machine). libgomp reads it when torch loads.
AS_INSTALLED = "--as-installed" in sys.argv[1:]
if AS_INSTALLED:
    os.environ.pop("OMP_WAIT_POLICY", None)
else:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# name: arch, layers, hidden, heads, kv_heads, intermediate, vocab,
#       train batch, seq, gen batch, prompt_len, new_tokens, default steps.
# Keep in step with Shapes in bench/bench.go.
SHAPES = {
    "tiny": ("gpt2", 2, 128, 4, 4, 512, 257, 8, 128, 8, 16, 64, 3),
    "mid": ("gpt2", 6, 512, 8, 8, 2048, 257, 4, 128, 8, 16, 64, 3),
    "gpt2-small-1x256": ("gpt2", 12, 768, 12, 12, 3072, 50257, 1, 256, 8, 16, 32, 2),
    "gpt2-small-4x256": ("gpt2", 12, 768, 12, 12, 3072, 50257, 4, 256, 8, 16, 32, 2),
    "qwen2-100m": ("qwen2", 12, 768, 12, 2, 2048, 32000, 4, 256, 8, 16, 32, 2),
}


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(n)), eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c, H, I, hd = c, c["hidden"], c["inter"], c["hd"]
        if c["arch"] == "gpt2":
            self.ln_1, self.ln_2 = nn.LayerNorm(H, eps=1e-5), nn.LayerNorm(H, eps=1e-5)
            self.c_attn, self.c_proj = nn.Linear(H, 3 * H), nn.Linear(H, H)
            self.fc, self.proj = nn.Linear(H, I), nn.Linear(I, H)
        else:
            self.ln_1, self.ln_2 = RMSNorm(H, 1e-6), RMSNorm(H, 1e-6)
            self.q = nn.Linear(H, c["heads"] * hd)
            self.k, self.v = nn.Linear(H, c["kv"] * hd), nn.Linear(H, c["kv"] * hd)
            self.o = nn.Linear(c["heads"] * hd, H, bias=False)
            self.gate, self.up = nn.Linear(H, I, bias=False), nn.Linear(H, I, bias=False)
            self.down = nn.Linear(I, H, bias=False)

    def attn(self, x, pos, rope, cache):
        c, (B, T, _) = self.c, x.shape
        nh, nkv, hd = c["heads"], c["kv"], c["hd"]
        if c["arch"] == "gpt2":
            q, k, v = self.c_attn(x).split(c["hidden"], dim=-1)
        else:
            q, k, v = self.q(x), self.k(x), self.v(x)
        q = q.view(B, T, nh, hd).transpose(1, 2)
        k = k.view(B, T, nkv, hd).transpose(1, 2)
        v = v.view(B, T, nkv, hd).transpose(1, 2)
        if rope is not None:
            cos, sin = rope[0][pos:pos + T], rope[1][pos:pos + T]
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        if cache is not None:  # preallocated [B, kv, S, hd] buffers
            cache[0][:, :, pos:pos + T], cache[1][:, :, pos:pos + T] = k, v
            k, v = cache[0][:, :, :pos + T], cache[1][:, :, :pos + T]
        if nkv != nh:
            k, v = k.repeat_interleave(nh // nkv, dim=1), v.repeat_interleave(nh // nkv, dim=1)
        s = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(hd))
        if T > 1:  # causal mask; a single new token sees the whole cache
            L = k.shape[2]
            mask = torch.ones(T, L, dtype=torch.bool).triu(L - T + 1)
            s = s.masked_fill(mask, float("-inf"))
        y = torch.matmul(torch.softmax(s, dim=-1), v).transpose(1, 2).reshape(B, T, nh * hd)
        return self.c_proj(y) if c["arch"] == "gpt2" else self.o(y)

    def forward(self, x, pos, rope, cache):
        x = x + self.attn(self.ln_1(x), pos, rope, cache)
        h = self.ln_2(x)
        if self.c["arch"] == "gpt2":
            return x + self.proj(F.gelu(self.fc(h), approximate="tanh"))
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c, H = c, c["hidden"]
        self.wte = nn.Embedding(c["vocab"], H)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c["layers"]))
        if c["arch"] == "gpt2":
            self.wpe, self.ln_f, self.rope = nn.Embedding(c["maxpos"], H), nn.LayerNorm(H, eps=1e-5), None
        else:
            self.ln_f = RMSNorm(H, 1e-6)
            hd = c["hd"]
            inv = 1.0 / (1e6 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
            f = torch.outer(torch.arange(c["maxpos"], dtype=torch.float32), inv)
            emb = torch.cat((f, f), dim=-1)
            self.rope = (emb.cos(), emb.sin())
        for m in self.modules():  # rlhf's init: normal(0, 0.02), zero biases, unit norms
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, ids, pos=0, caches=None):
        x = self.wte(ids)
        if self.rope is None:
            x = x + self.wpe(torch.arange(pos, pos + ids.shape[1]))
        for i, b in enumerate(self.blocks):
            x = b(x, pos, self.rope, None if caches is None else caches[i])
        return F.linear(self.ln_f(x), self.wte.weight)  # tied LM head


def train(model, c, B, T, steps):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, c["vocab"], (B, T), generator=g)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)

    def step():
        logits = model(ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, c["vocab"]), ids[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    t0 = time.perf_counter()
    step()
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - t0, warm, B * T * steps


@torch.no_grad()
def generate(model, c, B, P, N, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, c["vocab"], (B, P), generator=g)
    shape = (B, c["kv"], P + N, c["hd"])
    caches = [(torch.empty(shape), torch.empty(shape)) for _ in range(c["layers"])]
    logits, pos, out = model(ids, 0, caches)[:, -1], P, []
    for i in range(N):
        lp = torch.log_softmax(logits, dim=-1)  # temperature 1, log-probs as rlhf
        tok = torch.multinomial(lp.exp(), 1, generator=g)
        out.append(tok)
        if i == N - 1:
            break
        logits = model(tok, pos, caches)[:, -1]
        pos += 1
    return torch.cat(out, dim=1).numel()


def matmuls(c, n, reps):
    """The matrix products of a training step over n tokens, as bench/matmul.go
    (bench.Matmul) lists them: per weight matrix W, fwd x·W, dx (the input's
    gradient) and dw (the weight's gradient), in the layout rlhf's graphs
    use (gpt2's Conv1D weights [in, out], the others' [out, in]). Median of
    reps timed runs after one untimed; yields JSON-ready dicts."""
    H, I, L, V = c["hidden"], c["inter"], c["layers"], c["vocab"]
    if c["arch"] == "gpt2":
        ms = [("attn.c_attn", H, 3 * H, L), ("attn.c_proj", H, H, L), ("mlp.c_fc", H, I, L),
              ("mlp.c_proj", I, H, L), ("lm_head", H, V, 1)]
    else:
        kvd = c["kv"] * c["hd"]
        ms = [("q_proj", H, H, L), ("k_proj+v_proj", H, kvd, 2 * L), ("o_proj", H, H, L),
              ("gate_proj+up_proj", H, I, 2 * L), ("down_proj", I, H, L), ("lm_head", H, V, 1)]
    for name, fin, fout, count in ms:
        in_out = c["arch"] == "gpt2" and name != "lm_head"
        w = torch.randn(fin, fout) if in_out else torch.randn(fout, fin)
        x, dy = torch.randn(n, fin), torch.randn(n, fout)
        prods = [
            ("fwd", (n, fin, fout), (lambda: x @ w) if in_out else (lambda: x @ w.t())),
            ("dx", (n, fout, fin), (lambda: dy @ w.t()) if in_out else (lambda: dy @ w)),
            ("dw", (fout, n, fin), (lambda: x.t() @ dy) if in_out else (lambda: dy.t() @ x)),
        ]
        for op, mkn, fn in prods:
            fn()
            times = []
            for _ in range(reps):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            med = sorted(times)[len(times) // 2]
            m, k, nn_ = mkn
            yield {"impl": "torch-as-installed" if AS_INSTALLED else "torch", "shape": None, "mode": "matmul",
                   "op": f"{name} {op}", "mkn": [m, k, nn_], "per_step": count, "seconds": med,
                   "gflops": 2 * m * k * nn_ / med / 1e9}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", required=True, choices=sorted(SHAPES))
    ap.add_argument("--mode", required=True, choices=["train", "generate", "matmul"])
    ap.add_argument("--steps", type=int, default=0, help="timed steps or runs (default: per shape, 2 or 3)")
    ap.add_argument("--threads", type=int, default=0, help="threads (default: the CPUs this process may use)")
    ap.add_argument("--as-installed", action="store_true",
                    help="PyTorch's own defaults: no OMP_WAIT_POLICY, no thread counts set")
    a = ap.parse_args()
    arch, L, H, nh, nkv, I, V, B, T, gB, gP, gN, dsteps = SHAPES[a.shape]
    steps = a.steps if a.steps > 0 else dsteps
    threads = a.threads if a.threads > 0 else len(os.sched_getaffinity(0))
    if a.as_installed:
        threads = torch.get_num_threads()
    else:
        torch.set_num_threads(threads)
        try:  # torch 1.13 built with BLAS=generic does not pass its thread count on to OpenBLAS
            ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(threads)
        except (OSError, AttributeError):
            pass
    torch.manual_seed(1)
    c = dict(arch=arch, layers=L, hidden=H, heads=nh, kv=nkv, hd=H // nh, inter=I, vocab=V,
             maxpos=max(1024, T, gP + gN + 16))
    if a.mode == "matmul":
        for r in matmuls(c, B * T, a.steps if a.steps > 0 else 5):
            r["shape"] = a.shape
            print(json.dumps(r))
        return
    model = Decoder(c)
    params = sum(p.numel() for p in model.parameters())
    if a.mode == "train":
        model.train()
        secs, warm, toks = train(model, c, B, T, steps)
        batch, seq = B, T
    else:
        model.eval()
        t0 = time.perf_counter()
        generate(model, c, gB, gP, min(4, gN), 0)
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        toks = sum(generate(model, c, gB, gP, gN, 1 + i) for i in range(steps))
        secs, batch, seq = time.perf_counter() - t0, gB, gN
    print(json.dumps({"impl": "torch-as-installed" if a.as_installed else "torch", "backend": "torch-cpu", "shape": a.shape, "mode": a.mode,
                      "dtype": "float32", "tokens_per_s": toks / secs, "params": params,
                      "batch": batch, "seq": seq, "steps": steps, "seconds": secs,
                      "compile_seconds": warm, "threads": threads, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
