#!/usr/bin/env python3
"""Trains the bundled LLaDA-architecture model on generated long-context tasks (masked
diffusion, LLaDA SFT objective), in pieces of at most --max-minutes that checkpoint and resume.

  python3 tools/train/train_llada.py --out build-train/run --max-minutes 8.5   # run, re-run
  python3 tools/train/train_llada.py --out build-train/smoke --smoke          # 1-minute check

Batches (one kind per batch, drawn per batch):
  sft      prompt ++ " " + answer ++ <|endoftext|>... (the response region: the answer padded
           with EOS to the batch width, >= 32 tokens); the prompt ends with the task's answer
           prefix ("The pass key is"). Per row a noise level t in (0, 1), stratified over the
           batch, p = (1 - eps) t + eps; each response token becomes <|mdm_mask|> with
           probability p; loss = mean cross-entropy over the masked tokens (LLaDA's 1/t weight
           is --t-weight: with t down to 1e-3 it let single tokens dominate the gradient).
  copy     BOS + noise + R + noise + R of random tokens (a quarter of them single printable
           bytes: digits, hex, letters, what task answers are made of), the second R maskable:
           a dense copying signal (induction) that the answer-only loss lacks (--copy-frac).
  retrieval associative recall in the tasks' shape: noise with 1-6 "key value" pairs, one key
           at the end, its value (digits / hex / capitals / tokens) + EOS as the answer
           (--retrieval-frac). The first --copy-warmup of the run is copy + retrieval only.
  --suffix-frac of the sft/copy/retrieval rows mask the answer from a random cut to the end
           instead (the tokens before it given, as left-to-right decoding sees them).
  pretrain a prompt's first half written twice, every token maskable (--pretrain-frac).
  causal   the same under a causal attention mask (--causal-frac): Prefilling-dLLM scores
           chunks with a causal forward of this bidirectional model.
Schedule and curriculum follow the fraction of --total-minutes of training done so far (saved
in the checkpoint), so they fit the GPU time however fast it runs: warmup, cosine to 10%;
prompt lengths grow along --curriculum. Data: worker processes generate batches on the fly
(tools/data/gen_tasks.py) from training seeds; the next seed is saved, so resuming never
repeats data. At every save: DIR/ckpt.pt (model, optimizer, step, RNG; tmp + rename) and
DIR/export/ (the engine-ready LLaDA checkpoint); at the end of a piece also a held-out eval.
"""

import argparse
import collections
import json
import math
import multiprocessing as mp
import os
import random
import sys
import time
from array import array

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "data"))
sys.path.insert(0, HERE)

import gen_tasks  # noqa: E402
from bpe_tokenizer import BpeTokenizer  # noqa: E402

START = time.time()
EPS = 1e-3


def log(msg):
    print(f"[{time.time() - START:6.0f}s] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# Data (runs in worker processes; no torch there)

_TOKENIZER = None


def _init_worker(tokenizer_path):
    global _TOKENIZER
    _TOKENIZER = BpeTokenizer(tokenizer_path)


TASK_WEIGHTS = {"passkey": 1.0, "kv": 1.4, "vt": 1.4, "mdqa": 1.0}


def _with_bos_anchors(tok, ids, record):
    """Inserts BOS before every 1023-token chunk of the context, as Prefilling-dLLM's chunks
    ([BOS] + 1023 tokens) put it, so that anchored prompts are in distribution."""
    bos = tok.token_id("<|startoftext|>")
    start = len(tok.encode(gen_tasks.PROMPT_PREFIX))
    # The query's first token may merge with the context's last one: stay one token short.
    query = ("\n\nQuestion: " + record["question"] + gen_tasks.PROMPT_SUFFIX
             + record["answer_prefix"])
    end = len(ids) - len(tok.encode(query)) - 1
    out = ids[:start]
    for c in range(start, max(start, end), 1023):
        out.append(bos)
        out.extend(ids[c:min(c + 1023, end)])
    out.extend(ids[max(start, end):])
    return out


def make_batch(spec):
    """A batch of `spec['rows']` samples whose prompts have at most spec['ctx'] tokens.
    mode "sft": prompt ++ answer rows; "pretrain" / "causal": text copy rows, the first half
    of a prompt written twice, every token maskable; "copy": BOS + N1 + R + N2 + R for random
    tokens (R of 8 .. width/3 tokens, noise N1, N2 of random lengths), only the second R
    maskable. The copy rows give the dense copying signal that the answer-only loss lacks; the
    random lengths make the distance between the copies vary, so only content matching
    (induction) finds the copy, not a fixed-offset head. Returns (flat int32 bytes [rows * width],
    maskable-region starts, width, mode)."""
    tok = _TOKENIZER
    eos = tok.token_id("<|endoftext|>")
    bos = tok.token_id("<|startoftext|>")
    tasks, weights = zip(*spec.get("task_weights", TASK_WEIGHTS).items())
    seqs, prompt_lens = [], []
    for seed in range(spec["seed"], spec["seed"] + spec["rows"]):
        rng = random.Random(f"train|{seed}")
        task = rng.choices(tasks, weights)[0]
        depth = rng.choice((0.0, 1.0)) if rng.random() < 0.05 else round(rng.random(), 4)
        params = {"keys": rng.randint(2, 6), "hops": rng.randint(2, 5)}
        record, ids = gen_tasks.make_sample(task, spec["ctx"], depth, seed, tok, **params)
        if rng.random() < spec["anchor_frac"]:
            ids = _with_bos_anchors(tok, ids, record)
        answer = tok.encode(" " + record["answer"])  # follows the answer prefix
        assert len(answer) < gen_tasks.ANSWER_BUDGET, record
        if spec["mode"] == "sft":
            seqs.append(ids + answer)
            prompt_lens.append(len(ids))
        elif spec["mode"] == "copy":
            total = spec["ctx"] + gen_tasks.ANSWER_BUDGET
            n = rng.randint(8, max(8, total // 3))
            gap = max(0, total - 1 - 2 * n)
            n1 = rng.randint(0, gap)
            noise = [_random_token(rng, eos) for _ in range(gap)]
            r = [_random_token(rng, eos) for _ in range(n)]
            row = [bos] + noise[:n1] + r + noise[n1:] + r
            seqs.append(row)
            prompt_lens.append(len(row) - n)
        elif spec["mode"] == "retrieval":
            row, start = _retrieval_row(rng, spec["ctx"], bos, eos)
            seqs.append(row)
            prompt_lens.append(start)
        else:
            half = ids[:(len(ids) + gen_tasks.ANSWER_BUDGET) // 2]
            seqs.append(half + half)
            prompt_lens.append(0)
    width = max(len(s) for s in seqs)
    if spec["mode"] in ("sft", "retrieval"):
        width = max(prompt_lens) + gen_tasks.ANSWER_BUDGET
    flat = array("i")
    for s in seqs:
        flat.extend(s)
        flat.extend([eos] * (width - len(s)))
    return flat.tobytes(), prompt_lens, width, spec["mode"]


def _random_token(rng, eos):
    """A random token id: 1/4 single bytes among printable ASCII (digits, letters), the rest
    merges (ids 256 .. eos-1)."""
    if rng.random() < 0.25:
        return rng.randrange(33, 127)
    return rng.randrange(256, eos)


_DIGITS = [ord(c) for c in "0123456789"]
_HEX = [ord(c) for c in "0123456789abcdef"]
_UPPER = [ord(c) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]


def _retrieval_row(rng, ctx, bos, eos):
    """Associative recall in the tasks' shape: noise with 1-6 "key value" pairs at random
    places, then a query = one pair's key; the answer = its value, then EOS up to the answer
    budget. Keys are 1-4 random tokens (distinct per row); values are 1-12 tokens of one
    alphabet per row (digits, hex, capitals, any token), so the model must match the key's
    content and copy a string of repeated small-alphabet tokens at the right offsets, as
    passkey / kv / vt answers need. Returns (row, start of the maskable answer)."""
    alphabet = rng.choice((_DIGITS, _DIGITS, _HEX, _UPPER, None))
    pick = (lambda: rng.choice(alphabet)) if alphabet else (lambda: rng.randrange(256, eos))
    pairs = rng.randint(1, 6)
    key_len = rng.randint(1, 4)
    keys = []
    while len(keys) < pairs:
        k = [rng.randrange(256, eos) for _ in range(key_len)]
        if k not in keys:
            keys.append(k)
    lo = 3 if alphabet is _DIGITS else 1
    values = [[pick() for _ in range(rng.randint(lo, 12))] for _ in keys]
    asked = rng.randrange(pairs)
    query = keys[asked]
    body = sum(len(k) + len(v) for k, v in zip(keys, values))
    n_noise = max(0, ctx - 1 - body - len(query))
    noise = [_random_token(rng, eos) for _ in range(n_noise)]
    cuts = sorted(rng.randint(0, n_noise) for _ in keys)
    order = list(range(pairs))
    rng.shuffle(order)
    row, prev = [bos], 0
    for cut, i in zip(cuts, order):
        row += noise[prev:cut] + keys[i] + values[i]
        prev = cut
    row += noise[prev:] + query
    start = len(row)
    return row + values[asked], start


class BatchPool:
    """Keeps `depth` batch specs in flight on a process pool; specs are made when submitted,
    so a curriculum change reaches the data within `depth` batches."""

    def __init__(self, workers, tokenizer_path, depth):
        self.pool = mp.get_context("fork").Pool(workers, _init_worker, (tokenizer_path,))
        self.depth = depth
        self.pending = collections.deque()

    def next(self, make_spec):
        while len(self.pending) < self.depth:
            self.pending.append(self.pool.apply_async(make_batch, (make_spec(),)))
        return self.pending.popleft().get()

    def close(self):
        self.pool.terminate()


# ---------------------------------------------------------------------------------------------
# Schedule

def parse_curriculum(text):
    """"0:512,0.2:2048,0.5:4096" -> [(0.0, 512), (0.2, 2048), (0.5, 4096)]."""
    out = sorted((float(p), int(n)) for p, n in (item.split(":") for item in text.split(",")))
    if not out or out[0][0] != 0.0:
        raise ValueError("--curriculum must start at progress 0")
    return out


def max_len_at(curriculum, progress):
    return [n for p, n in curriculum if p <= progress][-1]


def sample_ctx(rng, max_len, min_len):
    """Half the batches at the stage's length, the rest log-uniform below it (multiple of 64)."""
    if rng.random() < 0.5 or max_len <= min_len:
        return max_len
    n = math.exp(rng.uniform(math.log(min_len), math.log(max_len)))
    return max(min_len, int(n) // 64 * 64)


def lr_at(args, step, progress):
    warm = min(1.0, (step + 1) / args.warmup_steps)
    cos = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return args.lr * warm * (args.min_lr_frac + (1 - args.min_lr_frac) * cos)


# ---------------------------------------------------------------------------------------------
# Training

def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="run folder: ckpt.pt, export/, resumed if present")
    p.add_argument("--tokenizer-dir", default=os.path.join(HERE, "out"),
                   help="folder with tokenizer.json + tokenizer_config.json")
    p.add_argument("--max-minutes", type=float, default=8.5, help="wall time of this piece")
    p.add_argument("--total-minutes", type=float, default=22.0,
                   help="training time of the whole run (all pieces): schedule and curriculum")
    p.add_argument("--reserve-seconds", type=float, default=40.0,
                   help="kept at the end of a piece for the final save, export and eval")
    p.add_argument("--save-every-minutes", type=float, default=2.0,
                   help="also runs the quick eval at the first --eval-ctx")
    p.add_argument("--init-from", help="export folder to take weights and progress from (when "
                   "the ckpt.pt is lost; the optimizer restarts)")
    p.add_argument("--smoke", action="store_true", help="tiny model, 20 steps, ctx 256")
    # model
    p.add_argument("--d-model", type=int, default=384)
    p.add_argument("--n-layers", type=int, default=8)
    p.add_argument("--n-heads", type=int, default=6)
    p.add_argument("--mlp-hidden", type=int, default=1024)
    p.add_argument("--rope-theta", type=float, default=1_000_000.0)
    # optimisation
    p.add_argument("--lr", type=float, default=1.5e-3)
    p.add_argument("--min-lr-frac", type=float, default=0.1)
    p.add_argument("--warmup-steps", type=int, default=200)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--batch-tokens", type=int, default=131072, help="tokens per batch")
    p.add_argument("--curriculum", default="0:256,0.25:1024,0.4:2048,0.6:4608",
                   help="progress:max prompt length, ...")
    p.add_argument("--min-ctx", type=int, default=192)
    p.add_argument("--pretrain-frac", type=float, default=0.1,
                   help="batches of text copy rows (a prompt half written twice), every token "
                   "maskable")
    p.add_argument("--copy-warmup", type=float, default=0.08,
                   help="progress fraction at the start with copy batches only (forms the "
                   "induction/copy heads before the tasks need them)")
    p.add_argument("--copy-frac", type=float, default=0.15,
                   help="batches of random-token copy rows (BOS N R N R, second R masked)")
    p.add_argument("--retrieval-frac", type=float, default=0.3,
                   help="batches of associative-recall rows (noise, key-value pairs, a key "
                   "asked at the end; values of digits/hex/capitals/tokens)")
    p.add_argument("--suffix-frac", type=float, default=0.3,
                   help="sft/retrieval rows whose answer is masked from a random cut to the "
                   "end (tokens before it kept, as left-to-right decoding sees them)")
    p.add_argument("--copy-max-ctx", type=int, default=100000,
                   help="longest prompt of copy and retrieval rows")
    p.add_argument("--causal-frac", type=float, default=0.05,
                   help="batches like --pretrain-frac but with causal attention")
    p.add_argument("--anchor-frac", type=float, default=0.15,
                   help="samples with a BOS before every 1023-token context chunk")
    p.add_argument("--t-weight", action="store_true",
                   help="LLaDA's 1/t loss weighting (noisy at these batch sizes)")
    p.add_argument("--max-steps", type=int, default=0, help="stop after this step (0: no limit)")
    # machinery
    p.add_argument("--workers", type=int, default=max(1, min(13, (os.cpu_count() or 2) - 3)))
    p.add_argument("--compile", action="store_true", help="torch.compile the model (slow start)")
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--eval-samples", type=int, default=24, help="per task and length")
    p.add_argument("--eval-ctx", default="256,1024,4096",
                   help="prompt lengths of the quick eval (periodic saves: the first only)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--tasks", default=",".join(f"{k}:{v:g}" for k, v in TASK_WEIGHTS.items()),
                   help="task:weight,... of the sft rows")
    p.add_argument("--device", default="", help="cuda / cpu (default: cuda if available)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's)")
    args = p.parse_args()
    if args.smoke:
        args.d_model, args.n_layers, args.n_heads, args.mlp_hidden = 64, 2, 2, 128
        args.max_steps, args.batch_tokens, args.curriculum = 20, 8192, "0:256"
        args.warmup_steps, args.log_every, args.workers = 5, 5, min(args.workers, 4)
        args.eval_samples, args.eval_ctx, args.save_every_minutes = 4, "256", 0.5
        args.total_minutes = 1.0
    return args


def main():
    args = parse_args()
    tok_path = os.path.join(args.tokenizer_dir, "tokenizer.json")
    tok = BpeTokenizer(tok_path)
    curriculum = parse_curriculum(args.curriculum)
    # Fork the data workers before CUDA is touched.
    pool = BatchPool(args.workers, tok_path, depth=2 * args.workers)

    os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")
    import torch
    from llada_decode import make_eval_set, quick_eval
    from llada_model import LladaModel, ModelArgs, export_checkpoint

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.threads:
        torch.set_num_threads(args.threads)
    task_weights = parse_task_weights(args.tasks)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    margs = ModelArgs(vocab_size=tok.vocab_size, d_model=args.d_model, n_layers=args.n_layers,
                      n_heads=args.n_heads, mlp_hidden=args.mlp_hidden, rope_theta=args.rope_theta,
                      max_seq_len=max(n for _, n in curriculum),
                      mask_id=tok.token_id("<|mdm_mask|>"), eos_id=tok.token_id("<|endoftext|>"),
                      bos_id=tok.token_id("<|startoftext|>"), eot_id=tok.token_id("<|eot_id|>"))
    torch.manual_seed(args.seed)
    model = LladaModel(margs).to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8,
                            **fused_kwargs(torch, device))
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, "ckpt.pt")
    export_dir = os.path.join(args.out, "export")
    state = {"step": 0, "train_seconds": 0.0, "next_seed": 0, "tokens": 0}
    shape = dataclass_dict(margs)
    if os.path.exists(ckpt_path):
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ckpt["model_args"] != shape:
            sys.exit(f"{ckpt_path} holds a model of another shape: {ckpt['model_args']}")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        state = ckpt["state"]
        random.setstate(ckpt["rng_python"])
        torch.set_rng_state(ckpt["rng_torch"])
        if device.type == "cuda" and ckpt.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(ckpt["rng_cuda"])
        log(f"resumed {ckpt_path}: step {state['step']}, "
            f"{state['train_seconds'] / 60:.1f} of {args.total_minutes} training minutes")
    elif args.init_from:
        from llada_model import load_safetensors
        weights = load_safetensors(os.path.join(args.init_from, "model.safetensors"))
        model.load_state_dict({k[len("model."):]: v.float() for k, v in weights.items()})
        with open(os.path.join(args.init_from, "train_state.json")) as f:
            state = json.load(f)
        state["warm_restart_step"] = state["step"]
        log(f"weights and progress from {args.init_from} (step {state['step']}); new optimizer")
    else:
        random.seed(args.seed)
        log(f"no {ckpt_path}: starting a new run")
    log(f"model: {model.num_params() / 1e6:.2f}M parameters, d {margs.d_model}, "
        f"{margs.n_layers} layers, {margs.n_heads} heads, mlp {margs.mlp_hidden}, "
        f"vocab {margs.vocab_size}, rope theta {margs.rope_theta:g}; device {device}; "
        f"{args.workers} data workers")
    train_model = torch.compile(model) if args.compile else model

    eval_sets = {int(c): make_eval_set(tok, int(c), args.eval_samples,
                                               tuple(task_weights))
                 for c in args.eval_ctx.split(",")}

    def save(final):
        t0 = time.time()
        ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(), "state": state,
                "model_args": shape, "rng_python": random.getstate(),
                "rng_torch": torch.get_rng_state(),
                "rng_cuda": torch.cuda.get_rng_state() if device.type == "cuda" else None}
        torch.save(ckpt, ckpt_path + ".tmp")
        os.replace(ckpt_path + ".tmp", ckpt_path)
        export_checkpoint(model, export_dir, args.tokenizer_dir,
                          {"train_state.json": json.dumps(state) + "\n"})
        log(f"saved {ckpt_path} and {export_dir}/ at step {state['step']} "
            f"({time.time() - t0:.1f}s)")
        t0 = time.time()
        sets = eval_sets if final else dict([next(iter(eval_sets.items()))])
        results, examples = quick_eval(model, tok, sets, device)
        for c in sets:
            row = "  ".join(f"{t} {results[(t, c)]:.2f}" for t in task_weights)
            log(f"eval ctx {c} step {state['step']}: {row}")
        if final:
            for task, (want, got) in examples.items():
                log(f"  e.g. {task}: want {want!r} got {got!r}")
        log(f"eval took {time.time() - t0:.1f}s")

    rng = random.Random(f"specs|{state['next_seed']}")
    progress = state["train_seconds"] / (args.total_minutes * 60)

    def make_spec():
        max_len = max_len_at(curriculum, progress)
        ctx = sample_ctx(rng, max_len, min(args.min_ctx, max_len))
        # warmup: copy and retrieval batches only (1.2: retrieval, 2.0: copy)
        kind = rng.random() if progress >= args.copy_warmup else rng.choice((1.2, 1.2, 2.0))
        edges = [("causal", args.causal_frac), ("pretrain", args.pretrain_frac),
                 ("copy", args.copy_frac), ("retrieval", args.retrieval_frac)]
        mode, acc = "sft", 0.0
        for name, frac in edges:
            acc += frac
            if kind < acc:
                mode = name
                break
        if kind > 1.0:
            mode = "copy" if kind > 1.5 else "retrieval"
        if mode in ("copy", "retrieval"):
            ctx = min(ctx, args.copy_max_ctx)
        rows = max(1, args.batch_tokens // (ctx + gen_tasks.ANSWER_BUDGET))
        spec = {"seed": state["next_seed"], "rows": rows, "ctx": ctx, "mode": mode,
                "anchor_frac": args.anchor_frac if ctx > 1100 else 0.0,
                "task_weights": task_weights}
        state["next_seed"] += rows
        return spec

    deadline = START + args.max_minutes * 60 - args.reserve_seconds
    last_save = time.time()
    window = {"loss": 0.0, "n": 0, "tokens": 0, "wait": 0.0, "t0": time.time(), "modes": {},
              "ans": {}}
    model.train()
    done_reason = "time limit of this piece"
    while True:
        if progress >= 1.0:
            done_reason = f"all {args.total_minutes} training minutes done"
            break
        if args.max_steps and state["step"] >= args.max_steps:
            done_reason = f"--max-steps {args.max_steps}"
            break
        if time.time() > deadline:
            break
        step_t0 = time.time()
        flat, prompt_lens, width, mode = pool.next(make_spec)
        t_data = time.time() - step_t0
        tokens = torch.frombuffer(bytearray(flat), dtype=torch.int32).view(-1, width)
        # Short prompt budgets can give prompts longer than the budget (the needles alone):
        # keep the batch near --batch-tokens.
        keep = max(1, min(tokens.shape[0], args.batch_tokens // width))
        tokens, prompt_lens = tokens[:keep], prompt_lens[:keep]
        tokens = tokens.to(device, non_blocking=True).long()
        rows = tokens.shape[0]
        starts = torch.tensor(prompt_lens, device=device)
        pos = torch.arange(width, device=device)[None, :]
        causal = mode == "causal"
        region = pos >= starts[:, None]  # starts are 0 for the all-maskable copy rows
        # Stratified noise levels: one t in each of `rows` equal slices of (0, 1).
        t = (torch.arange(rows, device=device) + torch.rand(rows, device=device)) / rows
        p_mask = (1 - EPS) * t + EPS
        masked = region & (torch.rand(rows, width, device=device) < p_mask[:, None])
        if mode in ("sft", "retrieval", "copy") and args.suffix_frac > 0:
            # Some rows: the answer masked from a cut among its first 14 tokens to the end, the
            # tokens before the cut given (each next token has its left neighbours).
            cut = starts + torch.randint(0, 14, (rows,), device=device)
            use = torch.rand(rows, 1, device=device) < args.suffix_frac
            masked = torch.where(use, region & (pos >= cut[:, None]), masked)
        if not masked.any():
            continue
        noisy = torch.where(masked, torch.full_like(tokens, margs.mask_id), tokens)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                            enabled=device.type == "cuda"):
            h = train_model(noisy, causal=causal)
            logits = model.logits(h[masked]).float()
        ce = torch.nn.functional.cross_entropy(logits, tokens[masked], reduction="none")
        if args.t_weight:  # LLaDA's weighting: CE / p, per row / its region length
            row_of = masked.nonzero()[:, 0]
            region_len = region.sum(dim=1).float()
            loss = (ce / p_mask[row_of] / region_len[row_of]).sum() / rows
        else:
            loss = ce.mean()
        if mode in ("sft", "retrieval"):  # the answer tokens alone (EOS padding is most)
            is_answer = tokens[masked] != margs.eos_id
            if is_answer.any():
                total, count = window["ans"].get(mode, (0.0, 0))
                window["ans"][mode] = (total + ce[is_answer].sum().item(),
                                       count + int(is_answer.sum().item()))
        lr = lr_at(args, state["step"] - state.get("warm_restart_step", 0), progress)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()

        state["step"] += 1
        state["tokens"] += rows * width
        loss_value = loss.item()  # syncs; also keeps the step time honest
        window["loss"] += loss_value
        window["n"] += 1
        total, count = window["modes"].get(mode, (0.0, 0))
        window["modes"][mode] = (total + loss_value, count + 1)
        window["tokens"] += rows * width
        window["wait"] += t_data
        state["train_seconds"] += time.time() - step_t0
        progress = state["train_seconds"] / (args.total_minutes * 60)
        if state["step"] % args.log_every == 0:
            dt = time.time() - window["t0"]
            by_mode = " ".join(f"{m} {t / n:.3f}" for m, (t, n) in sorted(window["modes"].items()))
            for m, (t, n) in sorted(window["ans"].items()):
                by_mode += f" {m}-answer {t / max(1, n):.3f}"
            log(f"step {state['step']} progress {progress:.3f} ctx {width - 32} rows {rows} "
                f"loss {window['loss'] / window['n']:.4f} ({by_mode}) gnorm {gnorm.item():.2f} "
                f"lr {lr:.2e} tok/s {window['tokens'] / dt:,.0f} "
                f"data-wait {window['wait'] / dt:.0%}")
            window = {"loss": 0.0, "n": 0, "tokens": 0, "wait": 0.0, "t0": time.time(),
                      "modes": {}, "ans": {}}
        if time.time() - last_save > args.save_every_minutes * 60:
            save(final=False)
            last_save = time.time()

    pool.close()
    log(f"stopping: {done_reason}")
    save(final=True)
    log(f"done: step {state['step']}, {state['tokens'] / 1e6:.0f}M tokens, "
        f"{state['train_seconds'] / 60:.1f}/{args.total_minutes} training minutes"
        + (" (training complete)" if progress >= 1.0 else " (run again to resume)"))


def fused_kwargs(torch, device):
    """fused AdamW on CUDA where this torch has it (2.x; not 1.13)."""
    import inspect
    if device.type == "cuda" and "fused" in inspect.signature(torch.optim.AdamW).parameters:
        return {"fused": True}
    return {}


def parse_task_weights(text):
    """"passkey:1,kv:1.4" (or "passkey,kv": weight 1) -> {"passkey": 1.0, "kv": 1.4}."""
    out = {}
    for item in text.split(","):
        name, _, w = item.partition(":")
        if name not in gen_tasks.TASKS:
            raise ValueError(f"--tasks: unknown task {name!r}")
        out[name] = float(w or 1.0)
    return out


def dataclass_dict(obj):
    import dataclasses
    return dataclasses.asdict(obj)


if __name__ == "__main__":
    main()
