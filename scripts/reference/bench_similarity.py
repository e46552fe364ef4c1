"""
Reference side of the `similarity` rows of bench/compare.ts (bench/compare-similarity.ts): column-wise cosine
similarity of every pair of checkpoints, every tensor, in torch.

  bench_similarity.py MODE THREADS REPEATS DIR [DIR ...]

MODE 'blocked': each tensor is read in row blocks of 4 MiB per model (the models in lockstep, as a streaming
analyzer must); per block torch computes the column sums of x_i * x_j and x_i * x_i in float32, added into
float64 totals; then cos = w12 / sqrt(clamp_min(w1 * w2, eps^2)), eps = 1e-8: the formula of
torch.nn.functional.cosine_similarity (ATen's cosine_similarity), mean over columns.
MODE 'whole': the Fisher/similarity toolkit's own call on whole tensors, F.cosine_similarity(a, b, dim=0).mean()
per pair (1-D tensors as one column), each tensor read whole.
Safetensors are parsed here (the safetensors package is not installed): JSON header, raw little-endian F32.
One untimed warm-up, then REPEATS timed runs; prints one JSON line {"times": [...], "means": {...}}.
"""
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

BLOCK = 4 << 20
EPS = 1e-8


def header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
    h.pop("__metadata__", None)
    return 8 + n, h


def matrix_shape(shape):
    if len(shape) == 1:
        return shape[0], 1
    return shape[0], int(np.prod(shape[1:]))


def blocked(dirs):
    paths = [os.path.join(d, "model.safetensors") for d in dirs]
    hs = [header(p) for p in paths]
    fs = [open(p, "rb") for p in paths]
    m = len(dirs)
    out = {}
    try:
        for name, e in hs[0][1].items():
            assert e["dtype"] == "F32"
            rows, cols = matrix_shape(e["shape"])
            per = max(1, BLOCK // (4 * cols))
            norms = [torch.zeros(cols, dtype=torch.float64) for _ in range(m)]
            dots = {(i, j): torch.zeros(cols, dtype=torch.float64) for i in range(m) for j in range(i + 1, m)}
            for r0 in range(0, rows, per):
                n = min(per, rows - r0)
                xs = []
                for k in range(m):
                    fs[k].seek(hs[k][0] + hs[k][1][name]["data_offsets"][0] + r0 * cols * 4)
                    xs.append(torch.frombuffer(bytearray(fs[k].read(n * cols * 4)), dtype=torch.float32).reshape(n, cols))
                for k in range(m):
                    norms[k] += (xs[k] * xs[k]).sum(0)
                for (i, j), d in dots.items():
                    d += (xs[i] * xs[j]).sum(0)
            for (i, j), d in dots.items():
                out[f"{name}|{i}|{j}"] = (d / torch.sqrt(torch.clamp_min(norms[i] * norms[j], EPS * EPS))).mean().item()
    finally:
        for f in fs:
            f.close()
    return out


def whole(dirs):
    paths = [os.path.join(d, "model.safetensors") for d in dirs]
    hs = [header(p) for p in paths]
    out = {}
    for name, e in hs[0][1].items():
        ts = []
        for p, (off, h) in zip(paths, hs):
            b, en = h[name]["data_offsets"]
            a = np.fromfile(p, dtype=np.float32, count=(en - b) // 4, offset=off + b)
            t = torch.from_numpy(a).reshape(h[name]["shape"])
            ts.append(t.reshape(-1, 1) if t.dim() == 1 else t)
        for i in range(len(ts)):
            for j in range(i + 1, len(ts)):
                out[f"{name}|{i}|{j}"] = F.cosine_similarity(ts[i], ts[j], dim=0).mean().item()
    return out


def main():
    mode, threads, repeats, dirs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    torch.set_num_threads(threads)
    fn = {"blocked": blocked, "whole": whole}[mode]
    fn(dirs)  # warm-up, not timed
    times = []
    means = None
    for _ in range(repeats):
        t = time.perf_counter()
        means = fn(dirs)
        times.append(time.perf_counter() - t)
    print(json.dumps({"times": times, "means": means, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
