"""
umap-learn 0.5.3 (Debian's python3-umap-learn) embeddings of small deterministic inputs, for
test/ref-umap.test.ts: the quality our seeded UMAP must reach (its random stream differs from umap-learn's, so
the embeddings agree in quality, not digit for digit).

  umap_fixtures.py OUT_DIR

Writes OUT_DIR/<case>/x.npy (the input, float32 as umap-learn sees it) and OUT_DIR/<case>/seed<s>.npy
(umap-learn's embedding with random_state=s: seeded, single-thread SGD), and OUT_DIR/values.json (versions and
parameters). Under 4,096 points umap-learn finds the neighbours exactly, as ours does, so both build the same
fuzzy graph.
"""
import json
import os
import sys

import numpy as np
import umap

OUT = sys.argv[1]
SEEDS = (0, 1, 2)
PARAMS = {"n_neighbors": 15, "min_dist": 0.1, "n_components": 2}
values = {"versions": {"numpy": np.__version__, "umap": getattr(umap, "__version__", "0.5.3")}, "params": PARAMS, "seeds": list(SEEDS), "cases": []}


def low_rank(rng, n, d, rank=20):
    """Rank-20 signal plus unit noise (as the bench's inputs): a stand-in for hidden states."""
    basis = rng.standard_normal((rank, d))
    coef = rng.standard_normal((n, rank)) * (rank - np.arange(rank))
    return coef @ basis + rng.standard_normal((n, d))


def clusters(rng, n, d, k=6):
    """k Gaussian clusters of unequal sizes and spreads around centres 6 apart on average."""
    centres = rng.standard_normal((k, d)) * 6 / np.sqrt(2)
    labels = rng.choice(k, size=n, p=np.arange(1, k + 1) / (k * (k + 1) / 2))
    return centres[labels] + rng.standard_normal((n, d)) * (0.5 + labels[:, None] / k)


rng = np.random.default_rng(21)
for case, x in (("low_rank", low_rank(rng, 1000, 30)), ("clusters", clusters(rng, 1000, 12))):
    x = x.astype(np.float32)
    os.makedirs(os.path.join(OUT, case), exist_ok=True)
    np.save(os.path.join(OUT, case, "x.npy"), x)
    for s in SEEDS:
        y = umap.UMAP(random_state=s, **PARAMS).fit_transform(x)
        np.save(os.path.join(OUT, case, f"seed{s}.npy"), np.ascontiguousarray(y, dtype=np.float32))
    values["cases"].append(case)

with open(os.path.join(OUT, "values.json"), "w") as f:
    json.dump(values, f, indent=1)
    f.write("\n")
