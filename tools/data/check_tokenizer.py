#!/usr/bin/env python3
"""Checks that bpe_tokenizer.py (used for training data) and the engine's C++ tokenizer
(`dllm tokenize`, used by `dllm eval`) give the same ids on generated prompts.

  tools/data/check_tokenizer.py --dllm build/bin/dllm --model-dir tools/train/out [--samples 8]
"""

import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bpe_tokenizer import BpeTokenizer  # noqa: E402
from gen_tasks import TASKS, chat_prompt, make_sample  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dllm", required=True, help="the dllm executable")
    parser.add_argument("--model-dir", required=True, help="folder holding tokenizer.json")
    parser.add_argument("--samples", type=int, default=8, help="per task")
    parser.add_argument("--ctx", type=int, default=1024)
    args = parser.parse_args()
    tok = BpeTokenizer(os.path.join(args.model_dir, "tokenizer.json"))
    bad = 0
    for task in TASKS:
        for seed in range(args.samples):
            record, ids = make_sample(task, args.ctx, seed / max(1, args.samples - 1), seed, tok)
            texts = [chat_prompt(record["context"], record["question"], record["answer_prefix"]),
                     " " + record["answer"]]
            for text in texts:
                out = subprocess.run([args.dllm, "tokenize", "--model", args.model_dir,
                                      "--text", text], check=True, capture_output=True, text=True)
                cpp = [int(x) for x in out.stdout.strip().split("\n")[-1].split(",")]
                if cpp != tok.encode(text):
                    bad += 1
                    print(f"MISMATCH {task} seed {seed}: {text[:80]!r}...", file=sys.stderr)
    total = 2 * len(TASKS) * args.samples
    print(f"{total - bad} passed, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
