"""
Reference values for layer-by-layer representational similarity (test/geometry-similarity-ref.test.ts):
RSA = scipy.stats.spearmanr(pdist(A), pdist(B)) and linear / debiased CKA as Kornblith et al.'s reference code
computes it (gram_linear, center_gram, cka), on three small "layers" of the same 40 inputs (rounded to a grid so
that the pairwise distances have ties, which exercise the average-rank convention).

  python3 scripts/reference/similarity_fixtures.py test/fixtures/reference/similarity
"""
import json
import os
import sys

import numpy as np
import scipy
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(7)
base = rng.normal(size=(40, 6))
layers = [np.round(base, 1), np.round(base @ rng.normal(size=(6, 9)) + 0.3 * rng.normal(size=(40, 9)), 1), np.round(np.tanh(base[:, :4] * 2), 1)]


def gram_linear(x):
    return x.dot(x.T)


def center_gram(gram, unbiased=False):
    gram = gram.copy()
    if unbiased:
        n = gram.shape[0]
        np.fill_diagonal(gram, 0)
        means = np.sum(gram, 0, dtype=np.float64) / (n - 2)
        means -= np.sum(means) / (2 * (n - 1))
        gram -= means[:, None]
        gram -= means[None, :]
        np.fill_diagonal(gram, 0)
    else:
        means = np.mean(gram, 0, dtype=np.float64)
        means -= np.mean(means) / 2
        gram -= means[:, None]
        gram -= means[None, :]
    return gram


def cka(gx, gy, debiased=False):
    gx = center_gram(gx, unbiased=debiased)
    gy = center_gram(gy, unbiased=debiased)
    return gx.ravel().dot(gy.ravel()) / (np.linalg.norm(gx) * np.linalg.norm(gy))


L = len(layers)
rsa = np.zeros((L, L))
ck = np.zeros((L, L))
ckd = np.zeros((L, L))
for i in range(L):
    np.save(os.path.join(OUT, f"layer-{i}.npy"), layers[i].astype(np.float64))
    for j in range(L):
        rsa[i, j] = spearmanr(pdist(layers[i]), pdist(layers[j])).correlation
        ck[i, j] = cka(gram_linear(layers[i]), gram_linear(layers[j]))
        ckd[i, j] = cka(gram_linear(layers[i]), gram_linear(layers[j]), debiased=True)
np.save(os.path.join(OUT, "rsa.npy"), rsa)
np.save(os.path.join(OUT, "cka.npy"), ck)
np.save(os.path.join(OUT, "cka_debiased.npy"), ckd)
with open(os.path.join(OUT, "versions.json"), "w") as f:
    json.dump({"numpy": np.__version__, "scipy": scipy.__version__}, f)
