#!/usr/bin/env python3
"""Synthetic long-context tasks in the style of RULER: passkey, kv, vt, mdqa (JSONL out).

Standard library only; deterministic: a sample is a function of (task, ctx, depth, seed).
  passkey  a 5-7 digit pass key hidden in the haystack; "What is the pass key?"
  kv       N "The value of key K is V." needles (uuid-like K, V; N = --keys, 4 by default);
           the asked one sits at the depth, the others at random depths
  vt       variable tracking: "VAR ABC = 12345." "VAR DEF = ABC." ... (--hops variables) plus a
           distractor chain; "Which variables are assigned the value 12345?" -> "ABC DEF ..."
  mdqa     documents about different people (city, job, birth year, favourite colour facts);
           one question about the person of the document at the depth
Haystack: random English-like sentences (english_filler.py), never the needle phrases.

Prompt format (the one used for training and by `dllm eval`): the LLaDA chat template with
one user turn whose content is  context + "\\n\\nQuestion: " + question , followed by the
task's answer prefix as the start of the assistant turn (as RULER does for base models):
  <|startoftext|><|start_header_id|>user<|end_header_id|>\\n\\n{content}<|eot_id|>
  <|start_header_id|>assistant<|end_header_id|>\\n\\n{answer_prefix}
e.g. answer_prefix "The pass key is"; the model answers " " + answer + <|endoftext|> (padded
to the answer budget with more EOS). The prefix repeats the needle's own words, so the first
answer token is found by induction (the copy circuit a small model learns first).

--ctx is the length of that whole prompt in tokens of --tokenizer (the prompt is filled with
haystack up to at most ctx tokens, usually within a sentence of it). Without --tokenizer the
length is approximated as characters / 4 (good enough for a tokenizer-training corpus).

Seeds: training uses seeds in [0, EVAL_SEED_BASE); `--split eval` adds EVAL_SEED_BASE, so an
evaluation set never shares a sample seed with training data.
"""

import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from english_filler import FillerGenerator  # noqa: E402

TASKS = ("passkey", "kv", "vt", "mdqa")
EVAL_SEED_BASE = 1_000_000_000
ANSWER_BUDGET = 32  # generated tokens: the answer, then <|endoftext|> to the end

PROMPT_PREFIX = "<|startoftext|><|start_header_id|>user<|end_header_id|>\n\n"
PROMPT_SUFFIX = "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"

FIRST_NAMES = """Ada Alma Anton Arlo Beatrix Bruno Cecil Clara Dalia Dorian Edith Elias Emil Esme
Felix Flora Gideon Greta Hugo Ida Imre Iris Jasper Juno Karel Kira Leon Lidia Luca Mabel Marco
Milo Nadia Nils Nora Olga Oscar Otto Pavel Petra Quinn Rosa Rufus Sabine Silas Stella Tobias
Ulla Vera Viktor Wanda Wes Xenia Yara Yusuf Zelda Zeno""".split()
LAST_NAMES = """Abbott Almeida Baranov Becker Brandt Castell Crane Dahl Delacroix Eastwood Falk
Ferraro Garnier Holm Ibarra Jansen Kaplan Keller Lindqvist Lorenz Marsh Moreau Nakamura Novak
Okafor Orsini Pardo Quist Rahman Reyes Sandoval Sato Strand Tanaka Thorne Ulrich Varga Voss
Wagner Whitlock Yilmaz Zamora Ziegler""".split()
CITIES = """Ashford Belmora Brackenridge Calloway Corvale Dunmere Eastmarch Elderon Fairhaven
Falkirk Glenrock Greyport Harrowgate Highmoor Ironvale Juniper Kestrel Kingsbridge Larkspur
Lowmarsh Marrowdale Millbrook Northwatch Oakhurst Pinecrest Quarry Ravensworth Redcliff
Saltmere Silverton Stonehaven Thornbury Umberfield Valemont Westbrook Whitby Wickham Yarrow
Zephyrine""".split()
JOBS = """architect baker blacksmith carpenter chemist dentist editor electrician engineer
farmer florist gardener geologist jeweler journalist lawyer librarian locksmith mechanic
musician nurse pharmacist photographer pilot plumber potter surgeon tailor translator
veterinarian""".split()
COLORS = """amber azure beige crimson emerald indigo ivory lavender maroon ochre olive scarlet
teal turquoise violet""".split()


def chat_prompt(context, question, answer_prefix=""):
    """The prompt text the model sees (special tokens written inline)."""
    content = (context + "\n\nQuestion: " + question).strip()
    return PROMPT_PREFIX + content + PROMPT_SUFFIX + answer_prefix


def _hex(rng, n):
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _uuid_like(rng):
    return _hex(rng, 8) + "-" + _hex(rng, 4)


def _distinct(rng, make, n):
    out = []
    while len(out) < n:
        v = make()
        if v not in out:
            out.append(v)
    return out


class Layout:
    """Where needle sentences go in a list of filler sentences; `docs` > 0 groups the filler
    into that many documents (mdqa), each needle then lives in one document."""

    def __init__(self, needles, docs=0, paragraph_every=6):
        self.needles = needles  # [(doc, fraction, text)]
        self.docs = docs
        self.paragraph_every = paragraph_every

    def _join(self, sentences):
        parts = []
        for i, s in enumerate(sentences):
            if i:
                parts.append("\n" if i % self.paragraph_every == 0 else " ")
            parts.append(s)
        return "".join(parts)

    def _place(self, filler, needles):
        slots = sorted((round(frac * len(filler)), order, text)
                       for order, (frac, text) in enumerate(needles))
        out = []
        k = 0
        for i in range(len(filler) + 1):
            while k < len(slots) and slots[k][0] == i:
                out.append(slots[k][2])
                k += 1
            if i < len(filler):
                out.append(filler[i])
        return out

    def assemble(self, filler):
        if not self.docs:
            return self._join(self._place(filler, [(f, t) for _, f, t in self.needles]))
        parts = []
        n = len(filler)
        for d in range(self.docs):
            part = filler[d * n // self.docs:(d + 1) * n // self.docs]
            mine = [(f, t) for doc, f, t in self.needles if doc == d]
            parts.append(f"Document {d + 1}:\n" + self._join(self._place(part, mine)))
        return "\n\n".join(parts)


def build_passkey(rng, depth, digits=None):
    digits = digits or rng.choice((5, 6, 7))
    key = str(rng.randint(10 ** (digits - 1), 10 ** digits - 1))
    needle = f"The pass key is {key}. Remember it. {key} is the pass key."
    return Layout([(0, depth, needle)]), "What is the pass key?", key, "The pass key is"


def build_kv(rng, depth, keys=4):
    names = _distinct(rng, lambda: _uuid_like(rng), 2 * keys)
    pairs = list(zip(names[:keys], names[keys:]))
    needles = [(0, depth if i == 0 else rng.random(), f"The value of key {k} is {v}.")
               for i, (k, v) in enumerate(pairs)]
    k, v = pairs[0]
    return Layout(needles), f"What is the value of key {k}?", v, f"The value of key {k} is"


def build_vt(rng, depth, hops=4):
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    names = _distinct(rng, lambda: "".join(rng.choice(letters) for _ in range(3)), 2 * hops)
    values = _distinct(rng, lambda: str(rng.randint(10000, 99999)), 2)
    needles = []
    for c, (chain, value) in enumerate(((names[:hops], values[0]), (names[hops:], values[1]))):
        start = depth if c == 0 else rng.random() * 0.5
        fracs = [start] + sorted(start + (1 - start) * rng.random() for _ in chain[1:])
        prev = value
        for name, frac in zip(chain, fracs):
            needles.append((0, frac, f"VAR {name} = {prev}."))
            prev = name
    question = f"Which variables are assigned the value {values[0]}? List them in order."
    return (Layout(needles), question, " ".join(names[:hops]),
            f"The variables assigned the value {values[0]} are")


def build_mdqa(rng, depth, ctx):
    docs = max(3, min(16, round(ctx / 512)))
    people = _distinct(rng, lambda: f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}", docs)
    needles = []
    facts = []
    for d, person in enumerate(people):
        city, job, color = rng.choice(CITIES), rng.choice(JOBS), rng.choice(COLORS)
        year = str(rng.randint(1900, 1999))
        art = "an" if job[0] in "aeiou" else "a"
        # (fact sentence, question, answer, answer prefix = the fact's words before the answer)
        mine = [(f"{person} lives in {city}.", f"In which city does {person} live?", city,
                 f"{person} lives in"),
                (f"{person} works as {art} {job}.", f"What is the job of {person}?", job,
                 f"{person} works as {art}"),
                (f"{person} was born in {year}.", f"In which year was {person} born?", year,
                 f"{person} was born in"),
                (f"The favorite color of {person} is {color}.",
                 f"What is the favorite color of {person}?", color,
                 f"The favorite color of {person} is")]
        rng.shuffle(mine)
        for fact, _, _, _ in mine:
            needles.append((d, rng.random(), fact))
        facts.append(mine)
    target = round(depth * (docs - 1))
    _, question, answer, prefix = facts[target][rng.randrange(4)]
    return Layout(needles, docs=docs), question, answer, prefix


def build_task(task, rng, depth, ctx, params):
    if task == "passkey":
        return build_passkey(rng, depth, params.get("digits"))
    if task == "kv":
        return build_kv(rng, depth, params.get("keys", 4))
    if task == "vt":
        return build_vt(rng, depth, params.get("hops", 4))
    if task == "mdqa":
        return build_mdqa(rng, depth, ctx)
    raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")


def make_sample(task, ctx, depth, seed, tokenizer=None, **params):
    """One sample: the record (task, ctx, depth, seed, context, question, answer,
    answer_prefix) and, with a tokenizer, the prompt's token ids (at most ctx of them)."""
    rng = random.Random(f"{task}|{ctx}|{depth!r}|{seed}")
    layout, question, answer, prefix = build_task(task, rng, depth, ctx, params)
    layout.paragraph_every = rng.randint(4, 9)
    filler_gen = FillerGenerator(random.Random(f"filler|{task}|{ctx}|{depth!r}|{seed}"))

    def length(text):
        return len(tokenizer.encode(text)) if tokenizer else (len(text) + 3) // 4

    base = length(chat_prompt(layout.assemble([]), question, prefix))
    filler = []
    total = base
    while total < ctx:  # sentences are about additive in tokens (each starts with a space)
        s = filler_gen.sentence()
        filler.append(s)
        total += length(" " + s)
    ids = None
    while True:
        context = layout.assemble(filler)
        prompt = chat_prompt(context, question, prefix)
        if tokenizer:
            ids = tokenizer.encode(prompt)
            n = len(ids)
        else:
            n = length(prompt)
        if n <= ctx or not filler:
            break
        filler.pop()
    record = {"task": task, "ctx": ctx, "depth": depth, "seed": seed, "context": context,
              "question": question, "answer": answer, "answer_prefix": prefix}
    return record, ids


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", required=True, help=f"{' | '.join(TASKS)} | all (round robin)")
    parser.add_argument("--ctx", type=int, required=True, help="prompt length in tokens")
    parser.add_argument("--depth", type=float, default=None,
                        help="needle depth in [0, 1] (default: random per sample)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first sample")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--split", choices=("train", "eval"), default="eval")
    parser.add_argument("--tokenizer", help="tokenizer.json that measures --ctx")
    parser.add_argument("--keys", type=int, default=4, help="kv: number of key-value needles")
    parser.add_argument("--hops", type=int, default=4, help="vt: variables in the chain")
    parser.add_argument("--emit", choices=("jsonl", "text"), default="jsonl",
                        help="text: context, question and answer as plain text (BPE corpus)")
    parser.add_argument("--output", help="file to write (default: stdout)")
    args = parser.parse_args()

    tasks = TASKS if args.task == "all" else (args.task,)
    if any(t not in TASKS for t in tasks):
        parser.error(f"--task must be one of {', '.join(TASKS)} or all")
    if args.depth is not None and not 0.0 <= args.depth <= 1.0:
        parser.error("--depth must be in [0, 1]")
    if args.seed < 0 or args.count < 0 or args.seed + args.count > EVAL_SEED_BASE:
        parser.error(f"seeds must lie in [0, {EVAL_SEED_BASE})")
    tokenizer = None
    if args.tokenizer:
        from bpe_tokenizer import BpeTokenizer
        tokenizer = BpeTokenizer(args.tokenizer)
    base = EVAL_SEED_BASE if args.split == "eval" else 0
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    for i in range(args.count):
        seed = base + args.seed + i
        task = tasks[i % len(tasks)]
        depth = args.depth
        if depth is None:
            depth = round(random.Random(f"depth|{seed}").random(), 4)
        record, _ = make_sample(task, args.ctx, depth, seed, tokenizer,
                                keys=args.keys, hops=args.hops)
        if args.emit == "jsonl":
            out.write(json.dumps(record) + "\n")
        else:
            out.write(f"{record['context']}\n\nQuestion: {record['question']}\n"
                      f"{record['answer_prefix']} {record['answer']}\n\n")
    if out is not sys.stdout:
        out.close()


if __name__ == "__main__":
    main()
