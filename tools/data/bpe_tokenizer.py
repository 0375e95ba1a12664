"""A small pure-Python reader of the project's Hugging Face tokenizer.json (byte-level BPE).

Standard library only. It encodes the way the engine's C++ tokenizer (and HF `tokenizers`)
does for ASCII text: added tokens are matched in the raw text first, every piece between them
is split with the Qwen2 regex, mapped to GPT-2's byte-level alphabet and merged by rank.
Python's `re` has no \\p{L} / \\p{N}, so the split regex below spells them for ASCII; on
non-ASCII text (and without NFC) it may differ from the C++ tokenizer, which is why the task
generator only writes ASCII. tools/data/check_tokenizer.py compares both on generated samples.
"""

import json
import re

_LETTER = r"[^\W\d_]"
_NOT_LETTER_NUMBER_NEWLINE = r"(?:[^\w\r\n]|_)"
_NOT_SPACE_LETTER_NUMBER = r"(?:[^\s\w]|_)"
SPLIT = re.compile(
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)"
    rf"|{_NOT_LETTER_NUMBER_NEWLINE}?{_LETTER}+"
    r"|\d"
    rf"| ?{_NOT_SPACE_LETTER_NUMBER}+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def _byte_level_alphabet():
    table = {}
    extra = 0x100
    for b in range(256):
        if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF:
            table[b] = chr(b)
        else:
            table[b] = chr(extra)
            extra += 1
    return table


_BYTE_TO_CHAR = _byte_level_alphabet()
_CHAR_TO_BYTE = {c: b for b, c in _BYTE_TO_CHAR.items()}


class BpeTokenizer:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        model = data["model"]
        if model.get("type") != "BPE":
            raise ValueError(f"{path}: not a BPE tokenizer")
        self.vocab = dict(model["vocab"])
        self.ranks = {}
        for rank, merge in enumerate(model["merges"]):
            left, right = merge if isinstance(merge, list) else merge.split(" ", 1)
            self.ranks[(left, right)] = rank
        self.added = {t["content"]: t["id"] for t in data.get("added_tokens", [])}
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.id_to_token.update({i: t for t, i in self.added.items()})
        self.vocab_size = max(self.id_to_token) + 1
        contents = sorted(self.added, key=len, reverse=True)
        self._added_re = re.compile("|".join(re.escape(c) for c in contents)) if contents else None
        self._cache = {}

    def token_id(self, content):
        """Id of an added token ("<|endoftext|>") or a vocabulary entry."""
        if content in self.added:
            return self.added[content]
        return self.vocab[content]

    def _bpe(self, piece):
        word = [_BYTE_TO_CHAR[b] for b in piece.encode("utf-8")]
        ranks = self.ranks
        while len(word) > 1:
            best, best_rank = -1, None
            for i in range(len(word) - 1):
                rank = ranks.get((word[i], word[i + 1]))
                if rank is not None and (best_rank is None or rank < best_rank):
                    best, best_rank = i, rank
            if best < 0:
                break
            pair = (word[best], word[best + 1])
            merged = pair[0] + pair[1]
            out = []
            i = 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
                    out.append(merged)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = out
        return [self.vocab[w] for w in word]

    def _encode_plain(self, text, out):
        cache = self._cache
        if len(cache) > 500_000:
            cache.clear()
        for match in SPLIT.finditer(text):
            piece = match.group(0)
            ids = cache.get(piece)
            if ids is None:
                ids = cache[piece] = self._bpe(piece)
            out.extend(ids)

    def encode(self, text):
        """Token ids of `text`; added tokens written in the text become their ids."""
        out = []
        pos = 0
        if self._added_re is not None:
            for match in self._added_re.finditer(text):
                self._encode_plain(text[pos:match.start()], out)
                out.append(self.added[match.group(0)])
                pos = match.end()
        self._encode_plain(text[pos:], out)
        return out

    def decode(self, ids, skip_special=True):
        raw = bytearray()
        for i in ids:
            token = self.id_to_token[i]
            if token in self.added:
                if not skip_special:
                    raw.extend(token.encode("utf-8"))
                continue
            raw.extend(_CHAR_TO_BYTE[c] for c in token)
        return raw.decode("utf-8", errors="replace")
