"""
networkx reference values for src/mri/projection.ts (test/mri-projection.test.ts): the collaboration-weighted
projections of a layered directed graph (an NRAG) onto its even- and odd-layer nodes with their metrics, the
degree per layer, and the weighted directed average clustering of a non-layered digraph (which has triangles).

  python3 scripts/reference/mri_projection_fixtures.py test/fixtures/reference/mri/projection.json
"""
import json
import sys

import networkx as nx
import numpy as np
from networkx.algorithms import bipartite

rng = np.random.default_rng(3)
G = nx.DiGraph()
layers = 5
for l in range(layers):
    for c in range(4):
        G.add_node(f"{l}_{c}")
for l in range(layers - 1):
    for a in range(4):
        for b in range(4):
            if rng.random() < 0.45:
                G.add_edge(f"{l}_{a}", f"{l + 1}_{b}", weight=int(rng.integers(1, 6)))
G.remove_nodes_from([n for n in list(G.nodes) if G.degree(n) == 0])


def stats(values):
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.var(ddof=1)) if len(v) > 1 else None


out = {"nodes": list(G.nodes), "edges": [[u, v, d["weight"]] for u, v, d in G.edges(data=True)], "projections": {}, "degreeByLayer": []}
for side, parity in (("even", 0), ("odd", 1)):
    keep = [n for n in G.nodes if int(n.split("_")[0]) % 2 == parity]
    P = bipartite.collaboration_weighted_projected_graph(G, keep)
    deg = [d for _, d in P.degree()]
    st = [d for _, d in P.degree(weight="weight")]
    U = P.to_undirected()
    asp = nx.average_shortest_path_length(U, weight="weight") if nx.is_connected(U) else None
    try:
        assort = nx.degree_assortativity_coefficient(P, weight="weight")
        assort = None if np.isnan(assort) else float(assort)
    except Exception:
        assort = None
    out["projections"][side] = {
        "edges": sorted([[u, v, d["weight"]] for u, v, d in P.edges(data=True)]),
        "meanDegree": stats(deg)[0], "varDegree": stats(deg)[1],
        "meanStrength": stats(st)[0], "varStrength": stats(st)[1],
        "averageClustering": nx.average_clustering(P, weight="weight"),
        "assortativity": assort, "density": nx.density(P), "averageShortestPath": asp,
    }
for l in range(layers):
    d = [v for k, v in nx.degree(G) if k.split("_")[0] == str(l)]
    out["degreeByLayer"].append({"layer": l, "mean": float(np.mean(d)) if d else None, "variance": float(np.var(d, ddof=1)) if len(d) > 1 else None})

H = nx.gnp_random_graph(12, 0.35, seed=5, directed=True)
for u, v in H.edges:
    H[u][v]["weight"] = float(rng.uniform(0.2, 3.0))
out["clusteringGraph"] = {"nodes": [str(n) for n in H.nodes], "edges": [[str(u), str(v), d["weight"]] for u, v, d in H.edges(data=True)], "averageClustering": nx.average_clustering(H, weight="weight")}
out["versions"] = {"networkx": nx.__version__, "numpy": np.__version__}
with open(sys.argv[1], "w") as f:
    json.dump(out, f, indent=1)
