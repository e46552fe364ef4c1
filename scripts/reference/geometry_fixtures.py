"""
Reference outputs of scikit-learn 1.2 / scipy 1.10 (and numpy transcriptions of DADApy and umap-learn where
those libraries are not packaged) on small deterministic inputs, for test/ref-geometry.test.ts.

  geometry_fixtures.py OUT_DIR

Writes OUT_DIR/<case>/<array>.npy (inputs and outputs, float64) and OUT_DIR/values.json (scalars, library
versions). Inputs are generated here with numpy's default_rng and saved, so the tests read exactly what the
reference saw.
"""
import inspect
import json
import os
import sys

import numpy as np
import scipy
import scipy.stats
import sklearn
from scipy.optimize import curve_fit
from scipy.sparse.csgraph import shortest_path
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.manifold import smacof, trustworthiness
from sklearn.manifold import _t_sne
from sklearn.metrics import pairwise_distances
from sklearn.neighbors import NearestNeighbors, kneighbors_graph

OUT = sys.argv[1]
values = {"versions": {"numpy": np.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__}}


def save(case, **arrays):
    os.makedirs(os.path.join(OUT, case), exist_ok=True)
    for name, a in arrays.items():
        a = np.asarray(a)
        a = a.astype(np.int32) if np.issubdtype(a.dtype, np.integer) else a.astype(np.float64)
        np.save(os.path.join(OUT, case, name + ".npy"), np.ascontiguousarray(a))


# --- PCA (svd_solver='full'): components up to sign, variances, embedding ------------------------------------
rng = np.random.default_rng(1)
scales = 3.0 * 0.7 ** np.arange(20)
X = rng.standard_normal((120, 20)) * scales + rng.standard_normal(20) * 5
p = PCA(n_components=6, svd_solver="full").fit(X)
save("pca", x=X, components=p.components_, explained_variance=p.explained_variance_,
     explained_variance_ratio=p.explained_variance_ratio_, singular_values=p.singular_values_, mean=p.mean_,
     embedding=p.transform(X))
values["pca"] = {"noise_variance": float(p.noise_variance_), "n_components": 6}

# --- TruncatedSVD (arpack = exact top singular triplets; no centring) ------------------------------------------
rng = np.random.default_rng(2)
X = rng.random((100, 30)) * (1 + np.arange(30) % 4)
t = TruncatedSVD(n_components=5, algorithm="arpack").fit(X)
save("tsvd", x=X, components=t.components_, singular_values=t.singular_values_,
     explained_variance=t.explained_variance_, explained_variance_ratio=t.explained_variance_ratio_, embedding=t.transform(X))

# --- exact kNN (brute force; self excluded by querying the fitted points) ---------------------------------------
rng = np.random.default_rng(3)
X = rng.standard_normal((300, 16)) + rng.standard_normal(16)
for metric in ("euclidean", "cosine"):
    nn = NearestNeighbors(n_neighbors=10, algorithm="brute", metric=metric).fit(X)
    dist, ind = nn.kneighbors()
    save("knn_" + metric, x=X, distances=dist, indices=ind)

# --- trustworthiness --------------------------------------------------------------------------------------------
rng = np.random.default_rng(4)
X = rng.standard_normal((150, 12)) * (1.0 + np.arange(12))
Y = X @ rng.standard_normal((12, 2))
values["trustworthiness"] = {
    f"{metric}_k{k}": float(trustworthiness(X, Y, n_neighbors=k, metric=metric))
    for metric in ("euclidean", "cosine") for k in (5, 12)
}
save("trustworthiness", x=X, y=Y)

# --- Pearson / Spearman (with and without ties) -----------------------------------------------------------------
rng = np.random.default_rng(5)
a = rng.standard_normal(200)
b = 0.6 * a + 0.8 * rng.standard_normal(200)
at, bt = np.round(a * 2) / 2, np.round(b)  # heavy ties: Spearman must use average ranks
save("correlation", a=a, b=b, a_tied=at, b_tied=bt)
values["correlation"] = {
    "pearson": float(scipy.stats.pearsonr(a, b)[0]),
    "spearman": float(scipy.stats.spearmanr(a, b).correlation),
    "pearson_tied": float(scipy.stats.pearsonr(at, bt)[0]),
    "spearman_tied": float(scipy.stats.spearmanr(at, bt).correlation),
}

# --- shortest paths (Dijkstra) on a symmetric kNN distance graph, as Isomap -------------------------------------
rng = np.random.default_rng(6)
X = rng.standard_normal((150, 5))
G = kneighbors_graph(X, 6, mode="distance")
D = shortest_path(G, method="D", directed=False)
assert np.isfinite(D).all(), "kNN graph is disconnected; change the seed or k"
save("shortest_path", x=X, distances=D)
values["shortest_path"] = {"k": 6}

# --- classical MDS: numpy Torgerson scaling on slightly non-Euclidean dissimilarities --------------------------
rng = np.random.default_rng(7)
X = rng.standard_normal((40, 5)) * np.array([3, 2, 1.5, 0.5, 0.2])
D = pairwise_distances(X)
noise = np.abs(rng.normal(0, 0.05, D.shape))
D = D + (noise + noise.T) / 2
np.fill_diagonal(D, 0)
n = D.shape[0]
J = np.eye(n) - np.ones((n, n)) / n
B = -0.5 * J @ (D ** 2) @ J
lam, V = np.linalg.eigh(B)
order = np.argsort(lam)[::-1]
lam, V = lam[order], V[:, order]
k = 3
save("classical_mds", d=D, eigenvalues=lam[:k], embedding=V[:, :k] * np.sqrt(lam[:k]))
values["classical_mds"] = {"negative_mass": float(-lam[lam < 0].sum() / np.abs(lam).sum()), "n_components": k}

# --- SMACOF (metric) from a fixed initial configuration ---------------------------------------------------------
rng = np.random.default_rng(8)
X = rng.standard_normal((30, 4))
D = pairwise_distances(X)
init = rng.random((30, 2))
kw = dict(metric=True, n_components=2, init=init, n_init=1, max_iter=300, eps=1e-3, return_n_iter=True)
if "normalized_stress" in inspect.signature(smacof).parameters:
    kw["normalized_stress"] = False
emb, stress, n_iter = smacof(D, **kw)
save("smacof", d=D, init=init, embedding=emb)
values["smacof"] = {"stress": float(stress), "n_iter": int(n_iter)}

# --- TwoNN: numpy transcription of DADApy's compute_id_2NN (spec: shared/spec/intrinsic-dimension.md) -----------
rng = np.random.default_rng(9)
U = rng.random((400, 3))
X = np.concatenate([U, np.sin(2 * U[:, :2]), U[:, :1] * U[:, 1:2]], axis=1) @ rng.standard_normal((6, 8))
dist, _ = NearestNeighbors(n_neighbors=3, algorithm="brute").fit(X).kneighbors(X)  # column 0: the point itself


def id_2nn(distances, fraction=0.9, algorithm="base"):
    mus = np.log(distances[:, 2] / distances[:, 1])
    N = mus.shape[0]
    if algorithm == "base" and abs(fraction - 1.0) <= 1e-9:
        algorithm = "ml"
    if algorithm == "ml":
        return (N - 1) / np.sum(mus)
    n_eff = int(N * fraction)
    x = np.sort(mus)[:n_eff]
    y = -np.log(1 - np.arange(1, n_eff + 1) / N)
    slope_ls = np.sum(x * y) / np.sum(x * x)
    slope_cf = curve_fit(lambda xx, m: m * xx, x, y)[0][0]  # what DADApy calls
    assert abs(slope_ls - slope_cf) < 1e-6 * slope_ls, (slope_ls, slope_cf)
    return slope_cf


save("twonn", x=X, r1=dist[:, 1], r2=dist[:, 2])
values["twonn"] = {
    "id_base_0.9": float(id_2nn(dist)),
    "id_base_0.5": float(id_2nn(dist, fraction=0.5)),
    "id_ml": float(id_2nn(dist, algorithm="ml")),
    "id_base_1.0": float(id_2nn(dist, fraction=1.0)),
    # DADApy's code: np.mean(distances[:, [1, 2]]); the spec's prose says "mean r_2": both recorded.
    "scale_mean_r1_r2": float(np.mean(dist[:, [1, 2]])),
    "scale_mean_r2": float(np.mean(dist[:, 2])),
}

# --- t-SNE internals: exact joint probabilities P, KL divergence and its gradient at a fixed embedding ----------
rng = np.random.default_rng(10)
X = rng.standard_normal((60, 5)) * np.array([2, 1, 1, 0.5, 0.5])
Dsq = pairwise_distances(X, metric="euclidean", squared=True)
P = scipy.spatial.distance.squareform(_t_sne._joint_probabilities(Dsq, 10.0, 0))
Y = rng.standard_normal((60, 2))
kl, grad = _t_sne._kl_divergence(Y.ravel(), scipy.spatial.distance.squareform(P), 1, 60, 2)
# Barnes-Hut input: P from the k = min(n-1, 3*perplexity+1) nearest neighbours (squared distances).
k = min(59, int(3.0 * 10.0 + 1))
nn = NearestNeighbors(n_neighbors=k, metric="euclidean").fit(X)
Dnn = nn.kneighbors_graph(mode="distance")
Dnn.data **= 2
Pnn = _t_sne._joint_probabilities_nn(Dnn, 10.0, 0).toarray()
save("tsne", x=X, p=P, y=Y, grad=grad.reshape(60, 2), p_nn=Pnn)
values["tsne"] = {"perplexity": 10.0, "kl": float(kl)}


# --- UMAP's find_ab_params (umap-learn's code, which calls scipy's curve_fit) ----------------------------------
def find_ab_params(spread, min_dist):
    def curve(x, a, b):
        return 1.0 / (1.0 + a * x ** (2 * b))

    xv = np.linspace(0, spread * 3, 300)
    yv = np.zeros(xv.shape)
    yv[xv < min_dist] = 1.0
    yv[xv >= min_dist] = np.exp(-(xv[xv >= min_dist] - min_dist) / spread)
    params, _ = curve_fit(curve, xv, yv)
    return float(params[0]), float(params[1])


values["umap_ab"] = [
    {"spread": s, "min_dist": m, "a": ab[0], "b": ab[1]}
    for s, m in ((1.0, 0.1), (1.0, 0.5), (2.0, 0.05), (1.0, 0.0), (0.5, 0.25))
    for ab in [find_ab_params(s, m)]
]

with open(os.path.join(OUT, "values.json"), "w") as f:
    json.dump(values, f, indent=1)
    f.write("\n")
