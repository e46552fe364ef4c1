"""
Reference tokenizations from the SentencePiece library itself (Debian's python3-sentencepiece), for
test/tokenizer-sentencepiece.test.ts.

  /usr/bin/python3 scripts/reference/sentencepiece_fixtures.py

Writes test/fixtures/sentencepiece/expected.json: for each model, the ids SentencePieceProcessor.encode gives
for each text (no BOS/EOS) and decode(ids). Models:
  - tok512: ../shared/models/stories260K/tok512.model (BPE, byte fallback, identity normalization; the real
    model, read in place, never copied);
  - unigram / bpe-options: two tiny models trained here (deterministic, one thread) on a generated corpus, to
    cover the unigram model, user-defined symbols, remove_extra_whitespaces=false and the <unk> path without
    byte fallback. They are small and committed next to the JSON.
"""
import json
import os
import random
import sys

import sentencepiece as spm

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "test", "fixtures", "sentencepiece")
TOK512 = os.path.join(ROOT, "..", "shared", "models", "stories260K", "tok512.model")

TEXTS = [
    "Once upon a time, there was a little girl named Lily.",
    "She loved to play outside in the park.",
    "The cat sat on the mat.",
    "Hello, world!",
    "What's this? It's a \"quoted\" word; and (parentheses) [brackets] {braces}.",
    "Numbers: 0 1 2 3 42 1234567890 3.14159 -7 1e-5",
    "a",
    "A",
    " ",
    "",
    " leading space",
    "trailing space ",
    "  two leading spaces",
    "multiple   inner    spaces",
    "   ",
    "tab\there and\tthere",
    "new\nline and\r\ncrlf",
    "café naïve résumé",
    "Grüße aus München",
    "日本語のテキスト",
    "中文字符",
    "emoji 😀🎉 mixed",
    "combining e\u0301 accent",
    "Ω≈ç√∫˜µ≤≥÷",
    "<s> and </s> and <unk> as text",
    "▁ already a sentencepiece space",
    "ALL CAPS SHOUTING!!!",
    "hyphen-ated and under_scored and slash/separated",
    "email@example.com http://example.com/path?q=1&r=2",
    "Tom and Sue went to the big red house. They saw a dog. The dog was happy.",
    "x" * 40,
    "end.",
]

WORDS = (
    "the a cat dog sat ran on in the mat park tree sun happy sad big little red blue girl boy named "
    "Lily Tom Sue played jumped saw was were is are and but so then one day time once upon there "
    "<sep> @@ 7 42 2024 café über"
).split()


def corpus(path):
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(3000):
            n = rng.randint(3, 12)
            f.write(" ".join(rng.choice(WORDS) for _ in range(n)) + ".\n")


def train(prefix, **kw):
    spm.SentencePieceTrainer.train(
        input=os.path.join(OUT, "corpus.txt"), model_prefix=prefix, num_threads=1, character_coverage=1.0,
        self_test_sample_size=0, normalization_rule_name="identity", **kw)
    os.remove(prefix + ".vocab")
    return prefix + ".model"


def cases(model_file):
    sp = spm.SentencePieceProcessor(model_file=model_file)
    out = []
    for t in TEXTS:
        ids = sp.encode(t)
        out.append({"text": t, "ids": ids, "pieces": [sp.id_to_piece(i) for i in ids], "decoded": sp.decode(ids)})
    return out


def main():
    if not os.path.exists(TOK512):
        sys.exit(f"missing {TOK512}")
    os.makedirs(OUT, exist_ok=True)
    corpus(os.path.join(OUT, "corpus.txt"))
    unigram = train(os.path.join(OUT, "unigram"), model_type="unigram", vocab_size=350, byte_fallback=True)
    bpe = train(os.path.join(OUT, "bpe-options"), model_type="bpe", vocab_size=150, byte_fallback=False,
                user_defined_symbols=["<sep>", "@@"], remove_extra_whitespaces=False)
    os.remove(os.path.join(OUT, "corpus.txt"))
    result = {
        "generator": "scripts/reference/sentencepiece_fixtures.py",
        "sentencepiece": spm.__version__,
        "models": {
            "tok512": {"file": "../shared/models/stories260K/tok512.model", "cases": cases(TOK512)},
            "unigram": {"file": "test/fixtures/sentencepiece/unigram.model", "cases": cases(unigram)},
            "bpe-options": {"file": "test/fixtures/sentencepiece/bpe-options.model", "cases": cases(bpe)},
        },
    }
    with open(os.path.join(OUT, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
