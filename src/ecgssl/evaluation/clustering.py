"""Clustering quality of frozen features: k-means against the labels.

How well the classes separate in an encoder's feature space without any classifier:
k-means with k = the number of classes present, scored against the labels with the
adjusted Rand index (0 for chance, 1 for the labels' partition) and the normalised
mutual information (0 to 1), both from scikit-learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ecgssl.util.checks import check_int

__all__ = ["cluster_scores"]


def cluster_scores(
    features: np.ndarray, y: np.ndarray, *, seed: int, n_init: int = 10
) -> dict[str, Any]:
    """k-means on standardised features, scored against the labels.

    Parameters
    ----------
    features : np.ndarray, shape (n, d)
        Frozen features of the windows to cluster (standardised here, per feature,
        over these windows: k-means is not scale-invariant; no label is used).
    y : np.ndarray of int, shape (n,)
        Class index of each window.
    seed : int
        Seed of k-means' initialisation.
    n_init : int
        k-means restarts (the best inertia is kept).

    Returns
    -------
    dict
        ``n_windows``, ``n_clusters`` (classes present), ``ari`` and ``nmi``;
        NaN scores where fewer than two classes or fewer windows than classes are
        present.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    from sklearn.preprocessing import StandardScaler

    n_init = check_int(n_init, "n_init", minimum=1)
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"features {x.shape} and labels {y.shape} do not match")
    k = int(np.unique(y).size)
    out: dict[str, Any] = {"n_windows": int(y.size), "n_clusters": k}
    if k < 2 or y.size <= k:
        return {**out, "ari": float("nan"), "nmi": float("nan")}
    x = StandardScaler().fit_transform(x)
    clusters = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(x)
    return {
        **out,
        "ari": float(adjusted_rand_score(y, clusters)),
        "nmi": float(normalized_mutual_info_score(y, clusters)),
    }
