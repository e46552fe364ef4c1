"""
Reference side of bench/compare.ts: times the same workloads in PyTorch / scikit-learn / scipy / numpy.

  bench_reference.py inputs DIR                          writes the shared inputs (.npy) into DIR
  bench_reference.py run DIR WORKLOAD THREADS REPEATS    an untimed warm-up (≥ 1 run and ≥ 0.3 s), then
                                                         REPEATS timed runs of WORKLOAD; prints one JSON line {"times": [...], ...}
  bench_reference.py blas THREADS                        the BLAS / OpenMP libraries and kernels (threadpoolctl)

The parent (bench/compare.ts) starts one process per round and interleaves them with ours (A B A B), with
OMP_NUM_THREADS = THREADS and OMP_WAIT_POLICY=PASSIVE and without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE; here
torch.set_num_threads and threadpoolctl's limits are set to THREADS as well, so both sides use the same cores.

Each workload is the reference library's own call. DADApy is not installable here: the TwoNN + Gride row is
a numpy transcription of DADApy's code (compute_id_2NN's 'base' fit; return_id_scaling_gride with
_filter_mus, the bisection of _argmax_loglik on the vectorised _neg_dloglik_did, _fisher_info_scaling), as
vectorised as DADApy's own numpy code is. Classical MDS is numpy's full `eigh` of the double-centred matrix
(scikit-learn has no classical MDS; this is the usual numpy recipe).
"""
import json
import os
import sys
import time

import numpy as np


def threadpool_limits(threads):
    try:
        from threadpoolctl import threadpool_limits as limits

        return limits(limits=threads)
    except ImportError:
        return None


WARMUP_SECONDS = 0.3  # the same rule as bench/compare-ours.ts timed(): at least one run and 0.3 s


def timed(fn, repeats):
    w0 = time.perf_counter()
    fn()  # warm-up, not timed
    while time.perf_counter() - w0 < WARMUP_SECONDS:
        fn()
    times = []
    out = None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return times, out


def low_rank(rng, n, d, rank=20):
    """Rank-20 signal plus unit noise: a stand-in for hidden states."""
    basis = rng.standard_normal((rank, d))
    coef = rng.standard_normal((n, rank)) * (rank - np.arange(rank))
    return (coef @ basis + rng.standard_normal((n, d))).astype(np.float32)


def make_inputs(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(2024)
    np.save(os.path.join(out, "x10k.npy"), low_rank(rng, 10000, 768))
    x2k = low_rank(rng, 2000, 50)
    np.save(os.path.join(out, "x2k.npy"), x2k)
    np.save(os.path.join(out, "x5k.npy"), low_rank(rng, 5000, 20, rank=5))
    np.save(os.path.join(out, "x5k50.npy"), low_rank(rng, 5000, 50))
    ids = rng.integers(0, 50257, size=(8, 128)).astype(np.int32)
    np.save(os.path.join(out, "ids.npy"), ids)
    # Euclidean distances of x2k in float64 (the MDS input both sides read).
    x = x2k.astype(np.float64)
    sq = (x * x).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0)
    np.fill_diagonal(d2, 0)
    np.save(os.path.join(out, "d2k.npy"), np.sqrt(d2))


def blas_info(threads):
    import scipy.linalg  # noqa: F401  (loads the LAPACK/BLAS numpy and scipy use)
    import sklearn  # noqa: F401

    try:
        from threadpoolctl import threadpool_info

        threadpool_limits(threads)
        keys = ("internal_api", "version", "architecture", "num_threads", "threading_layer", "filepath")
        info = [{k: v for k, v in d.items() if k in keys} for d in threadpool_info()]
        return {"threadpoolctl": info, "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}}
    except ImportError:
        import io
        from contextlib import redirect_stdout

        buf = io.StringIO()
        with redirect_stdout(buf):
            np.show_config()
        return {"show_config": buf.getvalue()}


# --- DADApy transcriptions (numpy, as DADApy writes them) -----------------------------------------------------


def dadapy_twonn_base(distances, mu_fraction=0.9):
    """compute_id_2NN(algorithm='base', mu_fraction=0.9, data_fraction=1): distances include self at column 0."""
    mus = distances[:, 2] / distances[:, 1]
    n = mus.shape[0]
    n_eff = int(n * mu_fraction)
    log_mus = np.sort(np.log(mus))[:n_eff]
    y = -np.log(1 - np.arange(1, n_eff + 1) / n)
    return float(np.dot(log_mus, y) / np.dot(log_mus, log_mus))


def _filter_mus(eps_dtype, mus):
    indx = np.nonzero(mus == 1)
    mus[indx] += 10 * eps_dtype
    q3, q2 = np.percentile(mus, [95, 50])
    mu_max = 20 * (q3 - q2) + q2
    return mus[mus < mu_max]


def _neg_dloglik_did(d, mus, n1, n2, N, eps):
    one_m_mus_d = 1.0 - mus ** (-d)
    one_m_mus_d[one_m_mus_d < 2 * eps] = 2 * eps
    s = np.sum(((1 - n2 + n1) / one_m_mus_d + n2 - 1.0) * np.log(mus))
    return s - (N - 1) / d


def _argmax_loglik(d0, d1, mus, n1, n2, N, eps=1.0e-7):
    l1 = _neg_dloglik_did(d1, mus, n1, n2, N, eps)
    while abs(d0 - d1) > eps:
        d2 = (d0 + d1) / 2.0
        l2 = _neg_dloglik_did(d2, mus, n1, n2, N, eps)
        if l2 * l1 > 0:
            d1 = d2
        else:
            d0 = d2
    return (d0 + d1) / 2.0


def _fisher_info_scaling(id_ml, mus, n1, n2, eps):
    N = len(mus)
    one_m_mus_d = 1.0 - mus ** (-id_ml)
    one_m_mus_d[one_m_mus_d < eps] = eps
    log_mu = np.log(mus)
    j0 = N / id_ml**2
    factor1 = np.divide(log_mu, one_m_mus_d)
    factor2 = mus ** (-id_ml)
    j1 = (n2 - n1 - 1) * np.sum(factor1**2 * factor2)
    return j0 + j1


def dadapy_gride_scaling(distances, range_max=64, d0=0.001, d1=1000, eps=1e-7):
    """return_id_scaling_gride from a precomputed table (self at column 0), float64 distances."""
    eps64 = np.finfo(np.float64).eps
    N = distances.shape[0]
    max_rank = min(N - 1, range_max, distances.shape[1] - 1)
    max_step = int(np.log2(max_rank))
    nn_ranks = np.array([2**i for i in range(max_step)])
    r1 = distances[:, nn_ranks].copy()
    r1[r1 < eps64] = eps64
    mus = distances[:, nn_ranks * 2] / r1
    rs = np.mean(distances[:, np.array([nn_ranks, nn_ranks * 2])], axis=(0, 1))
    ids, errs = [], []
    for i in range(mus.shape[1]):
        n1 = 2**i
        m = mus[:, i].copy()
        kept = _filter_mus(eps64, m)
        id_ = _argmax_loglik(d0, d1, kept, n1, 2 * n1, len(kept), eps=eps)
        errs.append((1 / _fisher_info_scaling(id_, m, n1, 2 * n1, eps=5 * eps64)) ** 0.5)
        ids.append(id_)
    return np.array(ids), np.array(errs), rs


def fisher_point(d, repeats, res):
    """
    The exact latent Fisher metric at one point of the last layer, in torch, as latent-atlas defines it
    (src/fisher/metric.ts): h = the last block's output (the point, written by our side), post = ln_f(h),
    K = d post / d h (LayerNorm Jacobian, float64), logits = W post (W the tied LM head, float32 product),
    p = softmax in float64, C = Wc^T Wc with Wc = diag(sqrt p)(W - 1 wbar^T), wbar = W^T p (float32, the
    V x d^2 product), G = K^T C K (float64).
    """
    import torch

    from hf_forward import load_weights

    model_dir = os.path.join(d, "gpt2-small")
    with open(os.path.join(model_dir, "config.json")) as f:
        eps = json.load(f).get("layer_norm_epsilon", 1e-5)
    w = load_weights(model_dir, torch.float32)
    W = w["wte.weight"].contiguous()
    gamma = w["ln_f.weight"].double()
    beta = w["ln_f.bias"].double()
    h = torch.from_numpy(np.load(os.path.join(d, "ours-fisher-point.npy")).astype(np.float64))
    n = h.shape[0]

    def go():
        with torch.no_grad():
            mu = h.mean()
            xc = h - mu
            r = 1.0 / torch.sqrt((xc * xc).mean() + eps)
            xhat = xc * r
            post = xhat * gamma + beta
            K = gamma[:, None] * r * (torch.eye(n, dtype=torch.float64) - 1.0 / n - torch.outer(xhat, xhat) / n)
            p = torch.softmax(torch.mv(W, post.float()).double(), 0)
            p32 = p.float()
            wbar = torch.mv(W.t(), p32)
            Wc = (W - wbar) * p32.sqrt()[:, None]
            C = (Wc.t() @ Wc).double()
            return K.t() @ C @ K

    times, G = timed(go, repeats)
    res["_times"] = times
    res["torch"] = torch.__version__
    res["torch_threads"] = torch.get_num_threads()
    return G.numpy(), times


def per_sample_grad(d, threads, repeats, res):
    """
    Per-sample gradients of all parameters of the GPT-2-small-shaped checkpoint (tied LM head) for the first 4
    texts of ids.npy (128 tokens each), float32: loss_b = sum_t cross-entropy(logits[b, t], ids[b, t + 1]) (the
    document loss bench/compare-ours.ts differentiates). Two torch variants, both keeping every gradient:
    a per-sample loop (one forward and torch.autograd.grad per text) and functorch's vmap(grad(loss)) over
    the texts. Each is timed (warm-up excluded); "times" are the faster variant's (by min).
    """
    import torch
    import torch.nn.functional as F

    from hf_forward import gpt2_forward, load_weights

    torch.set_num_threads(threads)
    model_dir = os.path.join(d, "gpt2-small")
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    w = load_weights(model_dir, torch.float32)
    names = list(w)
    ids = torch.from_numpy(np.load(os.path.join(d, "ids.npy"))[:4].astype(np.int64))

    def loss_of(params, row):  # row: [1, T]
        h = gpt2_forward(cfg, params, row, torch.ones_like(row))[-1]
        logits = h[0, :-1] @ params["wte.weight"].t()
        return F.cross_entropy(logits, row[0, 1:], reduction="sum")

    leaves = {n: t.clone().requires_grad_() for n, t in w.items()}

    def loop():
        out = []
        for b in range(ids.shape[0]):
            g = torch.autograd.grad(loss_of(leaves, ids[b : b + 1]), [leaves[n] for n in names])
            out.append(dict(zip(names, g)))
        return out

    variants = {"loop": loop}
    try:
        from functorch import grad, vmap

        per = vmap(grad(lambda p, row: loss_of(p, row[None])), in_dims=(None, 0))
        variants["vmap"] = lambda: [{n: g[n][b] for n in names} for g in [per(w, ids)] for b in range(ids.shape[0])]
    except ImportError as e:
        res["vmap_error"] = str(e)
    # the tensors our side wrote (bench/compare-ours.ts PSG_CHECK; ours runs first in every round)
    check = [f[len("ours-psg-") : -4] for f in os.listdir(d) if f.startswith("ours-psg-") and f.endswith(".npy")]
    for name, fn in variants.items():
        try:
            t, grads = timed(fn, repeats)
        except Exception as e:  # e.g. functorch lacking a batching rule in this torch build
            res[name + "_error"] = f"{type(e).__name__}: {e}"[:300]
            continue
        res[name + "_times"] = t
        # Agreement (untimed): per-sample gradient norms over all parameters, and some sample-0 tensors.
        res[name + "_norms"] = [float(torch.sqrt(sum((g.double() ** 2).sum() for g in s.values()))) for s in grads]
        for n in check:
            np.save(os.path.join(d, f"torch-psg-{name}-{n}.npy"), grads[0][n].detach().numpy())
        del grads
    best = min((k for k in variants if k + "_times" in res), key=lambda k: min(res[k + "_times"]))
    res["variant"] = best
    res["_times"] = res[best + "_times"]
    res["torch"] = torch.__version__
    res["torch_threads"] = torch.get_num_threads()


def run(d, workload, threads, repeats):
    x = lambda name: np.load(os.path.join(d, name))
    threadpool_limits(threads)
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

        times, hidden = timed(go, repeats)
        np.save(os.path.join(d, f"torch-last-hidden-{threads}.npy"), hidden[-1].numpy())
        res["torch"] = torch.__version__
        res["torch_threads"] = torch.get_num_threads()
    elif workload.startswith("pca-"):
        from sklearn.decomposition import PCA

        solver = workload[4:]
        X = x("x10k.npy")
        model = [None]

        def go():
            model[0] = PCA(n_components=50, svd_solver=solver, random_state=0)
            return model[0].fit_transform(X)

        times, p = timed(go, repeats)
        res["dtype"] = str(p.dtype)
        res["sv"] = model[0].singular_values_.tolist()
    elif workload == "knn":
        from sklearn.neighbors import NearestNeighbors

        X = x("x10k.npy")
        times, (dist, ind) = timed(lambda: NearestNeighbors(n_neighbors=30, algorithm="brute").fit(X).kneighbors(), repeats)
        np.save(os.path.join(d, "sk-knn-indices.npy"), ind.astype(np.int32))
    elif workload == "id":
        # DADApy's Data(distances=...) with a k = 64 table: compute_id_2NN() then return_id_scaling_gride().
        ind = x("knn64-indices.npy")
        dist = x("knn64-distances.npy")
        table = np.concatenate([np.zeros((dist.shape[0], 1)), dist], axis=1)  # self at column 0, as DADApy stores it
        del ind

        def go():
            return dadapy_twonn_base(table), dadapy_gride_scaling(table)

        times, (two, (ids, errs, rs)) = timed(go, repeats)
        res["twonn"] = two
        res["gride"] = ids.tolist()
    elif workload == "mds":
        D = x("d2k.npy")

        def go():
            D2 = D**2
            B = -0.5 * (D2 - D2.mean(axis=0) - D2.mean(axis=1)[:, None] + D2.mean())
            w, v = np.linalg.eigh(B)
            order = np.argsort(w)[::-1][:2]
            return w[order], v[:, order] * np.sqrt(np.maximum(w[order], 0))

        times, (w, _) = timed(go, repeats)
        res["eigenvalues"] = w.tolist()
    elif workload == "tsne":
        from sklearn.manifold import TSNE

        X = x("x2k.npy")
        t = [None]

        def go():
            t[0] = TSNE(n_components=2, perplexity=30.0, init="pca", learning_rate="auto", random_state=0, n_jobs=threads)
            return t[0].fit_transform(X)

        times, _ = timed(go, repeats)
        res["kl"] = float(t[0].kl_divergence_)
    elif workload == "umap":
        # Debian's umap-learn 0.5.3 (apt-get install umap-learn). random_state=0: its seeded, deterministic SGD on
        # one thread, as ours (a fixed seed also forces n_jobs=1 there); NUMBA_NUM_THREADS = THREADS (= 1).
        import umap

        X = x("x5k50.npy")
        times, Y = timed(lambda: umap.UMAP(n_neighbors=15, min_dist=0.1, n_components=2, random_state=0).fit_transform(X), repeats)
        np.save(os.path.join(d, "ref-umap.npy"), Y.astype(np.float32))
        res["umap"] = umap.__version__ if hasattr(umap, "__version__") else "?"
        from sklearn.manifold import trustworthiness  # quality, untimed (ours reports its own)

        res["trust"] = float(trustworthiness(X, Y, n_neighbors=15))
    elif workload == "shortest-path":
        from scipy.sparse.csgraph import shortest_path
        from sklearn.neighbors import kneighbors_graph

        X = x("x5k.npy")
        G = kneighbors_graph(X, 15, mode="distance")
        times, D = timed(lambda: shortest_path(G, method="D", directed=False), repeats)
        res["checksum"] = float(np.sum(D[np.isfinite(D)]))
    elif workload == "trustworthiness":
        from sklearn.manifold import trustworthiness

        X = x("x2k.npy")
        Y = X[:, :2].copy()
        times, t = timed(lambda: trustworthiness(X, Y, n_neighbors=5), repeats)
        res["value"] = float(t)
    elif workload == "fisher-point":
        import torch

        torch.set_num_threads(threads)
        G, _ = fisher_point(d, repeats, res)
        np.save(os.path.join(d, "torch-fisher-G.npy"), G)
        times = res.pop("_times")
    elif workload == "per-sample-grad":
        per_sample_grad(d, threads, repeats, res)
        times = res.pop("_times")
    else:
        sys.exit(f"unknown workload {workload}")
    res["times"] = times
    return res


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "inputs":
        make_inputs(sys.argv[2])
    elif cmd == "blas":
        print(json.dumps(blas_info(int(sys.argv[2]) if len(sys.argv) > 2 else 2)))
    elif cmd == "run":
        print(json.dumps(run(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))))
    else:
        sys.exit(f"unknown command {cmd}")
