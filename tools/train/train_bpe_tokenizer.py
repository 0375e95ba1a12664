#!/usr/bin/env python3
"""Trains a small byte-level BPE tokenizer and writes it in Hugging Face tokenizer.json form.

Plain Python 3.11, standard library only. Deterministic: the same inputs give the same file.
The vocabulary is laid out as
  ids 0..255          one token per byte (id = byte value), in GPT-2's byte-level alphabet
  ids 256..           one token per learned merge, in merge order
  --special TOKEN=ID  special tokens at fixed ids; every id left unused below --vocab-size
                      becomes a reserved special token <|reserved_N|>.
The written file uses the Qwen2 split regex + ByteLevel pre-tokenizer and a ByteLevel
decoder, so the engine's C++ tokenizer (and HF `tokenizers`) reads it like Qwen2/Dream's.

Example (the bundled models/llada-tiny tokenizer):
  tools/train/train_bpe_tokenizer.py --vocab-size 512 \\
    --special '<|endoftext|>=490' --special '<|startoftext|>=491' --special '<|eot_id|>=492' \\
    --special '<|start_header_id|>=493' --special '<|end_header_id|>=494' \\
    --special '<|mdm_mask|>=500' --output models/llada-tiny/tokenizer.json \\
    --config-output models/llada-tiny/tokenizer_config.json \\
    /usr/share/common-licenses/GPL-3 /usr/share/common-licenses/Apache-2.0
"""

import argparse
import collections
import json
import re
import sys

# The split regex written into tokenizer.json (Oniguruma syntax, as in Qwen2's file).
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# The same regex for Python's `re`, used for training only: `re` has no \p{..}, so a
# letter is [^\W\d_] and a number is \d. Close enough to learn sensible merges.
_LETTER = r"[^\W\d_]"
_NOT_LETTER_NUMBER_NEWLINE = r"(?:[^\w\r\n]|_)"
_NOT_SPACE_LETTER_NUMBER = r"(?:[^\s\w]|_)"
TRAIN_SPLIT = re.compile(
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)"
    rf"|{_NOT_LETTER_NUMBER_NEWLINE}?{_LETTER}+"
    r"|\d"
    rf"| ?{_NOT_SPACE_LETTER_NUMBER}+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+")

# The LLaDA-8B-Instruct chat template (tokenizer_config.json of GSAI-ML/LLaDA-8B-Instruct).
LLADA_CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}")


def byte_level_alphabet():
    """GPT-2's bytes_to_unicode: printable bytes stand for themselves, the rest map to U+0100+."""
    table = {}
    extra = 0x100
    for b in range(256):
        printable = 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF
        if printable:
            table[b] = chr(b)
        else:
            table[b] = chr(extra)
            extra += 1
    return table


def count_words(paths):
    counts = collections.Counter()
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for match in TRAIN_SPLIT.finditer(text):
            counts[match.group(0).encode("utf-8")] += 1
    return counts


def learn_merges(word_counts, num_merges):
    """Classic BPE: repeatedly merge the most frequent adjacent pair (ties: smallest pair)."""
    words = [([bytes([b]) for b in word], n) for word, n in sorted(word_counts.items())]
    merges = []
    for _ in range(num_merges):
        pairs = collections.Counter()
        for symbols, n in words:
            for left, right in zip(symbols, symbols[1:]):
                pairs[(left, right)] += n
        if not pairs:
            break
        best_count = max(pairs.values())
        best = min(p for p, c in pairs.items() if c == best_count)
        merges.append(best)
        merged = best[0] + best[1]
        for i, (symbols, n) in enumerate(words):
            if len(symbols) < 2:
                continue
            out = []
            j = 0
            while j < len(symbols):
                if j + 1 < len(symbols) and (symbols[j], symbols[j + 1]) == best:
                    out.append(merged)
                    j += 2
                else:
                    out.append(symbols[j])
                    j += 1
            words[i] = (out, n)
    return merges


def parse_specials(items, vocab_size):
    specials = {}
    for item in items:
        token, sep, id_text = item.rpartition("=")
        if not sep or not token:
            sys.exit(f"--special wants TOKEN=ID, got {item!r}")
        token_id = int(id_text)
        if not 256 <= token_id < vocab_size or token_id in specials.values():
            sys.exit(f"special id {token_id} out of range or repeated")
        specials[token] = token_id
    return specials


def added_token(token_id, content):
    return {"id": token_id, "content": content, "single_word": False, "lstrip": False,
            "rstrip": False, "normalized": False, "special": True}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("inputs", nargs="+", help="UTF-8 text files to learn merges from")
    parser.add_argument("--output", required=True, help="tokenizer.json to write")
    parser.add_argument("--config-output", help="tokenizer_config.json to write (optional)")
    parser.add_argument("--vocab-size", type=int, required=True)
    parser.add_argument("--special", action="append", default=[], help="TOKEN=ID")
    parser.add_argument("--num-merges", type=int,
                        help="default: fill every id between 255 and the lowest special id")
    args = parser.parse_args()

    specials = parse_specials(args.special, args.vocab_size)
    first_special = min(specials.values(), default=args.vocab_size)
    num_merges = args.num_merges if args.num_merges is not None else first_special - 256
    if num_merges < 0 or 256 + num_merges > first_special:
        sys.exit("merges would overlap the special ids")

    alphabet = byte_level_alphabet()
    to_text = lambda raw: "".join(alphabet[b] for b in raw)
    merges = learn_merges(count_words(args.inputs), num_merges)
    if len(merges) < num_merges:
        sys.exit(f"only {len(merges)} merges could be learned; give more text")

    vocab = {to_text(bytes([b])): b for b in range(256)}
    for rank, (left, right) in enumerate(merges):
        vocab[to_text(left + right)] = 256 + rank

    by_id = {token_id: token for token, token_id in specials.items()}
    reserved = 0
    for token_id in range(256 + num_merges, args.vocab_size):
        if token_id not in by_id:
            by_id[token_id] = f"<|reserved_{reserved}|>"
            reserved += 1
    added = [added_token(i, by_id[i]) for i in sorted(by_id)]

    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                  "use_regex": False}
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT}, "behavior": "Isolated",
             "invert": False},
            byte_level]},
        "post_processor": None,
        "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": False,
                  "byte_fallback": False, "ignore_merges": False, "vocab": vocab,
                  "merges": [[to_text(l), to_text(r)] for l, r in merges]},
    }
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, ensure_ascii=False, indent=1)
        f.write("\n")

    if args.config_output:
        names = set(specials)
        config = {
            "added_tokens_decoder": {str(t["id"]): {k: v for k, v in t.items() if k != "id"}
                                     for t in added},
            "bos_token": "<|startoftext|>" if "<|startoftext|>" in names else None,
            "eos_token": "<|endoftext|>" if "<|endoftext|>" in names else None,
            "pad_token": "<|endoftext|>" if "<|endoftext|>" in names else None,
            "mask_token": "<|mdm_mask|>" if "<|mdm_mask|>" in names else None,
            "clean_up_tokenization_spaces": False,
            "model_max_length": 4096,
            "tokenizer_class": "PreTrainedTokenizerFast",
        }
        if {"<|startoftext|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"} <= names:
            config["chat_template"] = LLADA_CHAT_TEMPLATE
        with open(args.config_output, "w", encoding="utf-8") as f:
            json.dump(config, f, ensure_ascii=False, indent=1)
            f.write("\n")
    print(f"{args.output}: {256 + len(merges)} byte/merge tokens, {len(added)} added tokens",
          file=sys.stderr)


if __name__ == "__main__":
    main()
