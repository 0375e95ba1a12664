"""Greedy LLaDA low-confidence decoding in PyTorch and the quick held-out evaluation that
train_llada.py prints at each save (the same prompts and scoring as `dllm eval`).

Decoding = LLaDA generate() with gen_length = block_length = steps = 32, temperature 0: every
step runs the whole sequence, takes the argmax at each masked answer position and commits the
one with the highest softmax probability. Prompts of a batch are right-padded; padding is
masked out as keys, so each row computes what it would alone (positions 0..L-1).
"""

import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data"))
from gen_tasks import ANSWER_BUDGET, EVAL_SEED_BASE, TASKS, make_sample  # noqa: E402


@torch.no_grad()
def decode_answers(model, prompts, device, gen_length=ANSWER_BUDGET):
    """Greedy low-confidence decoding of `gen_length` tokens after each prompt (lists of ids).
    Returns the generated ids of each prompt."""
    a = model.args
    lengths = [len(p) for p in prompts]
    width = max(lengths) + gen_length
    x = torch.full((len(prompts), width), a.eos_id, dtype=torch.long)
    for i, p in enumerate(prompts):
        x[i, :len(p)] = torch.tensor(p)
        x[i, len(p):len(p) + gen_length] = a.mask_id
    x = x.to(device)
    starts = torch.tensor(lengths, device=device)
    gen_pos = starts[:, None] + torch.arange(gen_length, device=device)[None, :]  # [B, G]
    valid = torch.arange(width, device=device)[None, :] < (starts + gen_length)[:, None]
    key_mask = None if all(n == lengths[0] for n in lengths) else valid[:, None, None, :]
    rows = torch.arange(len(prompts), device=device)
    for _ in range(gen_length):  # steps = gen_length: one token per step
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                            enabled=device.type == "cuda"):
            h = model.hidden(x, key_mask)
            h = h[rows[:, None], gen_pos]  # [B, G, d]
            logits = model.logits(h).float()
        probs = torch.softmax(logits, dim=-1)
        conf, pred = probs.max(dim=-1)  # [B, G]
        still_masked = x[rows[:, None], gen_pos] == a.mask_id
        conf = torch.where(still_masked, conf, torch.full_like(conf, -1.0))
        best = conf.argmax(dim=-1)  # [B]
        commit = still_masked[rows, best]
        pos = gen_pos[rows, best]
        x[rows[commit], pos[commit]] = pred[rows, best][commit]
    return [x[i, lengths[i]:lengths[i] + gen_length].tolist() for i in range(len(prompts))]


def answer_text(tokenizer, ids, stop_ids):
    """The decoded answer: ids up to the first stop token, special tokens skipped, stripped."""
    out = []
    for i in ids:
        if i in stop_ids:
            break
        out.append(i)
    return tokenizer.decode(out, skip_special=True).strip()


def make_eval_set(tokenizer, ctx, samples, tasks=TASKS):
    """Held-out samples per task (eval seeds), depths spread evenly over [0, 1]."""
    out = {}
    for task in tasks:
        rows = []
        for i in range(samples):
            depth = round(i / max(1, samples - 1), 4)
            record, ids = make_sample(task, ctx, depth, EVAL_SEED_BASE + i, tokenizer)
            rows.append((ids, record["answer"]))
        out[task] = rows
    return out


def quick_eval(model, tokenizer, eval_sets, device, batch_size=32):
    """({(task, ctx): accuracy}, {task: (wanted, generated) of one sample at the last ctx})
    over pre-built eval sets {ctx: {task: [(ids, answer)]}}."""
    was_training = model.training
    model.eval()
    a = model.args
    stops = {a.eos_id, a.eot_id}
    results, examples = {}, {}
    for ctx, per_task in eval_sets.items():
        for task, rows in per_task.items():
            correct = 0
            for b in range(0, len(rows), batch_size):
                chunk = rows[b:b + batch_size]
                gens = decode_answers(model, [ids for ids, _ in chunk], device)
                for gen, (_, answer) in zip(gens, chunk):
                    text = answer_text(tokenizer, gen, stops)
                    correct += text == answer
                    examples[task] = (answer, text)
            results[(task, ctx)] = correct / max(1, len(rows))
    model.train(was_training)
    return results, examples
