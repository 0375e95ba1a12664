#!/usr/bin/env python3
"""Mechanism checks without tokenizer or data workers: does the LLaDA model + masked-diffusion
objective learn to retrieve a value from a short random context, and how fast?

Tasks (context of --len random "word" tokens, answer region of 10 tokens, EOS-padded):
  marker  MARK + 5-7 digits at a random place, MARK at the end (a fixed anchor: passkey-like)
  kv      1-4 pairs "2-token random key + 5-7 digits", one key repeated at the end (the value
          must be found by matching the key's content: kv/vt/mdqa-like, induction)
  copy    a random 10-token span; its first 2 tokens at the end, the other 8 to be copied
Masking of the answer region: iid at a stratified rate t (LLaDA), or --suffix-frac rows masked
from a random cut to the end. Greedy low-confidence decoding, exact match, every --eval-every.

  python3 tools/train/diag_copy.py --task kv --steps 3000 [--device cuda] [--full] [--bf16]
"""
import argparse
import os
import random
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llada_model import LladaModel, ModelArgs  # noqa: E402

A = 10
DIG = list(range(10))


def sample(rng, task, L, fill, mark):
    """A row of L + 1 prompt tokens and A answer tokens."""
    if task == "marker":
        n = rng.randint(5, 7)
        val = [rng.choice(DIG) for _ in range(n)]
        ctx = [rng.choice(fill) for _ in range(L - n - 1)]
        p = rng.randint(0, len(ctx))
        return ctx[:p] + [mark] + val + ctx[p:] + [mark] + val + [-1] * (A - n)
    if task == "kv":
        pairs = rng.randint(1, 4)
        keys = []
        while len(keys) < pairs:
            k = [rng.choice(fill), rng.choice(fill)]
            if k not in keys:
                keys.append(k)
        vals = [[rng.choice(DIG) for _ in range(rng.randint(5, 7))] for _ in keys]
    else:  # copy
        keys = [[rng.choice(fill), rng.choice(fill)]]
        vals = [[rng.choice(fill) for _ in range(A - 2)]]
    body = sum(len(k) + len(v) for k, v in zip(keys, vals))
    ctx = [rng.choice(fill) for _ in range(L - 1 - body)]
    cuts = sorted(rng.randint(0, len(ctx)) for _ in keys)
    out, prev = [], 0
    for cut, k, v in zip(cuts, keys, vals):
        out += ctx[prev:cut] + k + v
        prev = cut
    out += ctx[prev:]
    i = rng.randrange(len(keys))
    return out + keys[i] + vals[i] + [-1] * (A - len(vals[i]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="marker", choices=("marker", "kv", "copy"))
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--len", type=int, default=40, help="context tokens")
    ap.add_argument("--fill", type=int, default=100, help="distinct filler tokens")
    ap.add_argument("--vocab", type=int, default=128)
    ap.add_argument("--full", action="store_true", help="the bundled model's shape (d 384, 8 "
                    "layers, 6 heads, mlp 1024, vocab 3072)")
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--n-layers", type=int, default=3)
    ap.add_argument("--n-heads", type=int, default=2)
    ap.add_argument("--theta", type=float, default=1e6)
    ap.add_argument("--bf16", action="store_true", help="autocast as train_llada.py on CUDA")
    ap.add_argument("--suffix-frac", type=float, default=0.0)
    ap.add_argument("--max-t", type=float, default=1.0, help="mask rates t in (0, max-t)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default="")
    args = ap.parse_args()
    if args.full:
        args.d_model, args.n_layers, args.n_heads, args.vocab = 384, 8, 6, 3072
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    dev = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = True
    V = args.vocab
    mask, eos, mark = V - 1, V - 2, V - 3
    fill = list(range(20, 20 + args.fill))
    assert fill[-1] < mark
    a = ModelArgs(vocab_size=V, d_model=args.d_model, n_layers=args.n_layers,
                  n_heads=args.n_heads, mlp_hidden=(1024 if args.full else 3 * args.d_model),
                  rope_theta=args.theta, mask_id=mask, eos_id=eos, bos_id=V - 4, eot_id=V - 5)
    m = LladaModel(a).to(dev)
    opt = torch.optim.AdamW(m.parameters(), lr=args.lr, weight_decay=0.1, betas=(0.9, 0.95))
    L, B = args.len, args.batch
    P = L + 1
    name = args.name or f"{args.task}"

    def batch(n):
        x = torch.tensor([sample(rng, args.task, L, fill, mark) for _ in range(n)], device=dev)
        return torch.where(x < 0, torch.full_like(x, eos), x)

    def amp():
        return torch.autocast(device_type=dev.type, dtype=torch.bfloat16,
                              enabled=args.bf16 and dev.type == "cuda")

    t0 = time.time()
    for step in range(args.steps + 1):
        x = batch(B)
        W = x.shape[1]
        pos = torch.arange(W, device=dev)[None, :]
        t = args.max_t * (torch.arange(B, device=dev) + torch.rand(B, device=dev)) / B
        region = pos >= P
        masked = region & (torch.rand(B, W, device=dev) < ((1 - 1e-3) * t + 1e-3)[:, None])
        if args.suffix_frac:
            cut = torch.randint(P, P + A, (B, 1), device=dev)
            use = torch.rand(B, 1, device=dev) < args.suffix_frac
            masked = torch.where(use, region & (pos >= cut), masked)
        if not masked.any():
            continue
        noisy = torch.where(masked, torch.full_like(x, mask), x)
        with amp():
            logits = m.logits(m(noisy)[masked]).float()
        ce = torch.nn.functional.cross_entropy(logits, x[masked], reduction="none")
        loss = ce.mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        if step % args.eval_every == 0:
            m.eval()
            with torch.no_grad(), amp():
                y = batch(256)
                xe = y.clone()
                xe[:, P:] = mask
                rows = torch.arange(256, device=dev)
                for _ in range(A):
                    probs = m.logits(m(xe)[:, P:]).float().softmax(-1)
                    conf, pred = probs.max(-1)
                    still = xe[:, P:] == mask
                    conf = torch.where(still, conf, torch.full_like(conf, -1.0))
                    b = conf.argmax(-1)
                    xe[rows, P + b] = torch.where(still[rows, b], pred[rows, b], xe[rows, P + b])
                acc = (xe == y).all(1).float().mean().item()
            m.train()
            ans = x[masked] != eos
            print(f"{name} step {step} loss {loss.item():.3f} answer-ce "
                  f"{ce[ans].mean().item():.3f} exact {acc:.2f} ({time.time() - t0:.0f}s)",
                  flush=True)


if __name__ == "__main__":
    main()
