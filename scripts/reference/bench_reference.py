"""
Reference side of bench/compare.ts: times the same workloads in PyTorch / scikit-learn / scipy.

  bench_reference.py inputs DIR                  writes the shared inputs (float32 .npy) into DIR
  bench_reference.py run DIR WORKLOAD [THREADS]  times WORKLOAD, prints one JSON line {"seconds": ..., ...}
  bench_reference.py blas                        prints the BLAS / OpenMP libraries numpy uses (threadpoolctl)

Timing protocol (same as the TypeScript side): one untimed warm-up, then the best of REPEATS timed runs.
Inputs are built with numpy's default_rng and read by both sides, so both work on identical data.
"""
import json
import os
import sys
import time

import numpy as np

REPEATS = int(os.environ.get("ATLAS_COMPARE_REPEATS", "2"))


def best_of(fn, repeats=REPEATS, warmup=True):
    if warmup:
        fn()
    times = []
    out = None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def low_rank(rng, n, d, rank=20):
    """Rank-20 signal plus unit noise: a stand-in for hidden states."""
    basis = rng.standard_normal((rank, d))
    coef = rng.standard_normal((n, rank)) * (rank - np.arange(rank))
    return (coef @ basis + rng.standard_normal((n, d))).astype(np.float32)


def make_inputs(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(2024)
    np.save(os.path.join(out, "x10k.npy"), low_rank(rng, 10000, 768))
    np.save(os.path.join(out, "x2k.npy"), low_rank(rng, 2000, 50))
    np.save(os.path.join(out, "x5k.npy"), low_rank(rng, 5000, 20, rank=5))
    ids = rng.integers(0, 50257, size=(8, 128)).astype(np.int32)
    np.save(os.path.join(out, "ids.npy"), ids)


def blas_info():
    import scipy.linalg  # noqa: F401  (loads the LAPACK/BLAS numpy and scipy use)
    import sklearn  # noqa: F401
    try:
        from threadpoolctl import threadpool_info

        info = [{k: v for k, v in d.items() if k in ("internal_api", "version", "architecture", "num_threads", "threading_layer")} for d in threadpool_info()]
        return {"threadpoolctl": info}
    except ImportError:
        import io
        from contextlib import redirect_stdout

        buf = io.StringIO()
        with redirect_stdout(buf):
            np.show_config()
        return {"show_config": buf.getvalue()}


def run(d, workload, threads):
    x = lambda name: np.load(os.path.join(d, name))
    res = {}
    if workload == "gpt2-forward":
        import torch

        from hf_forward import forward, load_weights

        torch.set_num_threads(threads)
        model_dir = os.path.join(d, "gpt2-small")
        w = load_weights(model_dir, torch.float32)
        ids = x("ids.npy")
        mask = np.ones_like(ids)

        def go():
            with torch.no_grad():
                return forward(model_dir, ids, mask, dtype=torch.float32, weights=w)

        secs, hidden = best_of(go)
        np.save(os.path.join(d, f"torch-last-hidden-{threads}.npy"), hidden[-1].numpy())
        res["torch"] = torch.__version__
        res["torch_threads"] = torch.get_num_threads()
    elif workload.startswith("pca-"):
        from sklearn.decomposition import PCA

        solver = workload[4:]
        X = x("x10k.npy")
        secs, p = best_of(lambda: PCA(n_components=50, svd_solver=solver, random_state=0).fit_transform(X))
        res["solver"] = solver
    elif workload == "knn":
        from sklearn.neighbors import NearestNeighbors

        X = x("x10k.npy")
        secs, (dist, ind) = best_of(lambda: NearestNeighbors(n_neighbors=15, algorithm="brute").fit(X).kneighbors())
        np.save(os.path.join(d, "sk-knn-indices.npy"), ind.astype(np.int32))
    elif workload == "tsne":
        from sklearn.manifold import TSNE

        X = x("x2k.npy")
        t = [None]

        def go():
            t[0] = TSNE(n_components=2, perplexity=30.0, init="pca", learning_rate="auto", random_state=0)
            return t[0].fit_transform(X)

        secs, _ = best_of(go, repeats=1)
        res["kl"] = float(t[0].kl_divergence_)
    elif workload == "shortest-path":
        from scipy.sparse.csgraph import shortest_path
        from sklearn.neighbors import kneighbors_graph

        X = x("x5k.npy")
        G = kneighbors_graph(X, 15, mode="distance")
        secs, D = best_of(lambda: shortest_path(G, method="D", directed=False), repeats=1)
        res["finite"] = bool(np.isfinite(D).all())
        res["checksum"] = float(np.sum(D[np.isfinite(D)]))
    elif workload == "trustworthiness":
        from sklearn.manifold import trustworthiness

        X = x("x2k.npy")
        Y = X[:, :2].copy()
        secs, t = best_of(lambda: trustworthiness(X, Y, n_neighbors=5))
        res["value"] = float(t)
    else:
        sys.exit(f"unknown workload {workload}")
    res["seconds"] = secs
    return res


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "inputs":
        make_inputs(sys.argv[2])
    elif cmd == "blas":
        print(json.dumps(blas_info()))
    elif cmd == "run":
        threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
        print(json.dumps(run(sys.argv[2], sys.argv[3], threads)))
    else:
        sys.exit(f"unknown command {cmd}")
