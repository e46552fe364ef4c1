"""
The torch side of `latent-atlas extract` end to end (bench/compare.ts, row `extract`): what a user's script does
with torch alone. Load the safetensors checkpoint (float32), tokenise with the checkpoint's own vocab.json +
merges.txt (GPT-2 byte-level BPE, OpenAI's encoder.py algorithm; `tokenizers`/`transformers` are not installable
here), batch the texts in dataset order (right padding + attention mask), one forward with all hidden states
(scripts/reference/hf_forward.py, a transcription of transformers' GPT2Model), take each text's final token in
every hidden state, save one [n_layer + 1, n_texts, d] float32 .npy.

usage: extract_reference.py MODEL_DIR DATA.csv OUT.npy THREADS [BATCH_SIZE=8]
Timed as a whole process by the caller (wall time and peak RSS); prints one JSON line.
"""
import csv
import json
import os
import re
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_forward import gpt2_forward, load_weights  # noqa: E402

# GPT-2's pre-tokenisation pattern with \p{L} → [^\W\d_] and \p{N} → \d (the `regex` module is not installed;
# identical on the ASCII/Latin text of the builtin datasets).
_PAT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?[^\s\w]+|\s+(?!\S)|\s+|_+""")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class BPE:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "vocab.json")) as f:
            self.vocab = json.load(f)
        with open(os.path.join(model_dir, "merges.txt")) as f:
            merges = [tuple(line.split()) for line in f.read().split("\n")[1:] if line.strip()]
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.byte_enc = bytes_to_unicode()
        self.cache = {}

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = list(token)
        while len(word) > 1:
            pairs = [(self.ranks.get((word[i], word[i + 1]), 1 << 30), i) for i in range(len(word) - 1)]
            rank, _ = min(pairs)
            if rank == 1 << 30:
                break
            a, b = merges_pair = next((word[i], word[i + 1]) for r, i in pairs if r == rank)
            out, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == merges_pair:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = out
        self.cache[token] = word
        return word

    def encode(self, text):
        ids = []
        for piece in _PAT.findall(text):
            mapped = "".join(self.byte_enc[b] for b in piece.encode("utf-8"))
            ids.extend(self.vocab[t] for t in self.bpe(mapped))
        return ids


def main():
    model_dir, data, out = sys.argv[1], sys.argv[2], sys.argv[3]
    threads = int(sys.argv[4])
    batch = int(sys.argv[5]) if len(sys.argv) > 5 else 8
    torch.set_num_threads(threads)
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    w = load_weights(model_dir, torch.float32)
    tok = BPE(model_dir)
    with open(data, newline="") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    encoded = [tok.encode(t)[: cfg.get("n_positions", 1024)] for t in texts]
    result = np.empty((cfg["n_layer"] + 1, len(texts), cfg["n_embd"]), dtype=np.float32)
    with torch.no_grad():
        for s in range(0, len(texts), batch):
            chunk = encoded[s : s + batch]
            T = max(len(e) for e in chunk)
            ids = torch.zeros(len(chunk), T, dtype=torch.int64)
            mask = torch.zeros(len(chunk), T, dtype=torch.int64)
            for i, e in enumerate(chunk):
                ids[i, : len(e)] = torch.tensor(e)
                mask[i, : len(e)] = 1
            hidden = gpt2_forward(cfg, w, ids, mask)
            last = torch.tensor([len(e) - 1 for e in chunk])
            rows = torch.arange(len(chunk))
            for layer, h in enumerate(hidden):
                result[layer, s : s + len(chunk)] = h[rows, last].numpy()
    np.save(out, result)
    print(json.dumps({"texts": len(texts), "tokens": int(sum(len(e) for e in encoded)), "torch": torch.__version__, "torch_threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
