#!/usr/bin/env python3
"""Checks of the training data and model plumbing (CPU, seconds; torch >= 1.13):

  python3 tools/train/check_training.py            # data checks + model checks
  python3 tools/train/check_training.py --no-torch # data checks only (stdlib)

Data: decodes training batches of every mode back to text and asserts that
  - sft rows: the maskable region starts right after the task's answer prefix, holds
    " " + answer then only EOS, the prompt is the eval prompt of the same sample (same format,
    same ids as `dllm eval` builds), and the answer is in the context right after the needle's
    own words (passkey, kv, vt's value line, mdqa's fact);
  - copy rows: the maskable tail is an exact earlier span of the row;
  - retrieval rows: the maskable answer is the value that follows the asked key earlier;
  - prompt lengths respect the batch width.
Model: bidirectional attention (a position sees tokens to its right), the key mask makes a
padded row compute what it computes alone, RoPE is relative (scores do not change when all
positions shift), the loss targets are the tokens at the masked positions (no shift).
"""

import argparse
import os
import random
import sys
from array import array

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "data"))
sys.path.insert(0, HERE)

import gen_tasks  # noqa: E402
import train_llada  # noqa: E402

FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL", what)


def rows_of(flat, width):
    a = array("i")
    a.frombytes(flat)
    return [list(a[r * width:(r + 1) * width]) for r in range(len(a) // width)]


def check_data(tok, batches):
    eos = tok.token_id("<|endoftext|>")
    n_rows = 0
    for ctx in (64, 256, 1024):
        for mode in ("sft", "copy", "retrieval", "pretrain"):
            for b in range(batches):
                spec = {"seed": 1000 * ctx + 97 * b, "rows": 12, "ctx": ctx, "mode": mode,
                        "anchor_frac": 0.0}
                flat, prompt_lens, width, got_mode = train_llada.make_batch(spec)
                check(got_mode == mode, f"mode {mode}")
                rows = rows_of(flat, width)
                for r, (row, start) in enumerate(zip(rows, prompt_lens)):
                    n_rows += 1
                    seed = spec["seed"] + r
                    if mode == "sft":
                        check_sft_row(tok, row, start, seed, ctx, eos)
                    elif mode == "copy":
                        tail = [t for t in row[start:] if t != eos]
                        n = len(tail)
                        head = row[:start]
                        found = any(head[i:i + n] == tail for i in range(len(head) - n + 1))
                        check(n >= 8 and found, f"copy row {seed}: tail is not an earlier span")
                        check(start + n == len(row) or all(t == eos for t in row[start + n:]),
                              f"copy row {seed}: tail")
                    elif mode == "retrieval":
                        value = [t for t in row[start:] if t != eos]
                        n, last = len(value), row[start - 1]
                        check(all(t == eos for t in row[start + n:]), f"retrieval {seed}: tail")
                        found = [i for i in range(1, start - n)
                                 if row[i - 1] == last and row[i:i + n] == value]
                        check(n >= 1 and found, f"retrieval row {seed}: value not after the key")
                        check(len(row) - start == gen_tasks.ANSWER_BUDGET or ctx < 256,
                              f"retrieval row {seed}: answer region {len(row) - start}")
                    else:
                        check(start == 0, "pretrain rows are all maskable")
    print(f"data: {n_rows} rows checked")


def check_sft_row(tok, row, start, seed, ctx, eos):
    # Rebuild the sample as make_batch does and as the evaluation does (eval = same function).
    rng = random.Random(f"train|{seed}")
    tasks, weights = zip(*train_llada.TASK_WEIGHTS.items())
    task = rng.choices(tasks, weights)[0]
    depth = rng.choice((0.0, 1.0)) if rng.random() < 0.05 else round(rng.random(), 4)
    params = {"keys": rng.randint(2, 6), "hops": rng.randint(2, 5)}
    record, ids = gen_tasks.make_sample(task, ctx, depth, seed, tok, **params)
    what = f"sft row {seed} ({task})"
    check(row[:start] == ids, f"{what}: prompt ids differ from the sample's prompt")
    prompt_text = tok.decode(row[:start], skip_special=False)
    check(prompt_text == gen_tasks.chat_prompt(record["context"], record["question"],
                                               record["answer_prefix"]),
          f"{what}: prompt is not the chat prompt")
    check(prompt_text.endswith(record["answer_prefix"]), f"{what}: no answer prefix at the end")
    region = row[start:]
    body = [t for t in region if t != eos]
    check(region[:len(body)] == body, f"{what}: EOS inside the answer")
    check(tok.decode(body) == " " + record["answer"],
          f"{what}: target {tok.decode(body)!r} != ' {record['answer']}'")
    # The answer is retrievable: the needle's own words followed by the answer.
    needle = {"passkey": f"The pass key is {record['answer']}.",
              "kv": f"{record['answer_prefix']} {record['answer']}.",
              "mdqa": f"{record['answer_prefix']} {record['answer']}"}.get(task)
    if needle:
        check(needle in record["context"], f"{what}: needle {needle!r} not in the context")
    if task == "vt":
        value = record["answer_prefix"].split()[-2]
        first = record["answer"].split()[0]
        check(f"VAR {first} = {value}." in record["context"], f"{what}: chain start missing")
    # Tokenization of the prompt + answer written as one text gives the same ids
    # (the answer's first token does not merge with the prefix's last one).
    joint = tok.encode(gen_tasks.chat_prompt(record["context"], record["question"],
                                             record["answer_prefix"]) + " " + record["answer"])
    check(joint == row[:start] + body, f"{what}: prompt+answer tokenizes differently")
    if ctx >= 1024:  # short budgets can be below the needles' own length
        check(len(ids) <= ctx, f"{what}: prompt {len(ids)} > ctx {ctx}")


def check_model():
    import torch
    from llada_model import LladaModel, ModelArgs
    torch.manual_seed(0)
    a = ModelArgs(vocab_size=64, d_model=32, n_layers=2, n_heads=2, mlp_hidden=64,
                  mask_id=63, eos_id=62, bos_id=61, eot_id=60)
    m = LladaModel(a).double().eval()
    ids = torch.randint(0, 60, (1, 20))
    h = m.hidden(ids)
    ids2 = ids.clone()
    ids2[0, -1] = (ids2[0, -1] + 1) % 60
    check((m.hidden(ids2)[0, 0] - h[0, 0]).abs().max() > 1e-6,
          "attention is not bidirectional (position 0 ignores the last token)")
    # Padded row with a key mask == the row alone.
    pad = torch.cat([ids, torch.full((1, 7), a.eos_id)], dim=1)
    key_mask = (torch.arange(27) < 20)[None, None, None, :]
    hp = m.hidden(pad, key_mask)[:, :20]
    check((hp - h).abs().max() < 1e-9, "key mask: padded row differs from the row alone")
    # RoPE is relative: q.k depends only on the distance.
    from llada_model import apply_rope, rope_cos_sin
    q = torch.randn(1, 1, 1, 16, dtype=torch.float64)
    k = torch.randn(1, 1, 1, 16, dtype=torch.float64)
    dots = []
    for shift in (0, 5, 100):
        cq, sq = rope_cos_sin(torch.tensor([shift + 10]), 16, 1e4)
        ck, sk = rope_cos_sin(torch.tensor([shift + 3]), 16, 1e4)
        dots.append(float((apply_rope(q, cq.double(), sq.double())
                           * apply_rope(k, ck.double(), sk.double())).sum()))
    check(max(dots) - min(dots) < 1e-4 * max(1.0, abs(dots[0])), f"RoPE not relative: {dots}")
    print("model: checked")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tokenizer", default=os.path.join(HERE, "out", "tokenizer.json"))
    p.add_argument("--batches", type=int, default=2)
    p.add_argument("--no-torch", action="store_true")
    args = p.parse_args()
    train_llada._init_worker(args.tokenizer)
    check_data(train_llada._TOKENIZER, args.batches)
    if not args.no_torch:
        check_model()
    if FAILS:
        sys.exit(f"{len(FAILS)} checks failed")
    print("all checks passed")


if __name__ == "__main__":
    main()
