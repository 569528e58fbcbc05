"""Supervised 2-D map of the landmark features (umap-learn), small enough to ship with the model.

Fitting (:func:`fit_embedding`, at training time only): standardise the landmark features, reduce
them with PCA to ``N_PCA`` dimensions, and fit a *supervised* UMAP (``target_metric="categorical"``,
the emotion labels pull same-class faces together) on a stratified sample of ``N_SAMPLE``
training faces. Only what projection needs is stored: the scaler and PCA parameters, the PCA
coordinates of the sampled faces and their 2-D UMAP coordinates (a few hundred kB).

Projection (:func:`project`, at run time, no umap / numba import): each new face is placed at the
inverse-distance-weighted mean of the UMAP coordinates of its ``K_NEIGHBOURS`` nearest sampled
faces in PCA space. That is the initialisation umap-learn's own ``transform`` uses (before its
optimisation steps); it is deterministic, cheap (one (N, N_SAMPLE) distance matrix) and maps
every training face close to its own fitted position.

Use for plots of where a session's frames lie relative to the prototypical expressions, not as
a classifier.
"""

from __future__ import annotations

import numpy as np

N_PCA = 20
N_SAMPLE = 4000
K_NEIGHBOURS = 10


def fit_embedding(x: np.ndarray, y: np.ndarray, *, seed: int = 0, n_sample: int = N_SAMPLE,
                  n_neighbors: int = 30, min_dist: float = 0.3) -> dict:
    """Fit the supervised UMAP map.

    Parameters
    ----------
    x : np.ndarray, shape (N, F)
        Landmark features of training faces (finite).
    y : np.ndarray, shape (N,) int
        Their labels.

    Returns
    -------
    dict
        Plain arrays: ``mean, scale, components, pca_mean, anchors (n, N_PCA), coords (n, 2),
        labels (n,)`` and the settings.
    """
    import umap
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    if len(x) > n_sample:
        idx, _ = train_test_split(np.arange(len(x)), train_size=n_sample, random_state=seed, stratify=y)
        idx = np.sort(idx)
    else:
        idx = np.arange(len(x))
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (x[idx] - mean) / scale
    pca = PCA(n_components=min(N_PCA, z.shape[1], len(z)), random_state=seed).fit(z)
    anchors = pca.transform(z)
    reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, min_dist=min_dist,
                        target_metric="categorical", target_weight=0.5, random_state=seed,
                        n_jobs=1, transform_seed=seed)
    coords = reducer.fit_transform(anchors, y=y[idx])
    return {"mean": mean.astype(np.float32), "scale": scale.astype(np.float32),
            "components": pca.components_.astype(np.float32), "pca_mean": pca.mean_.astype(np.float32),
            "anchors": anchors.astype(np.float32), "coords": coords.astype(np.float32),
            "labels": y[idx].astype(np.int8), "k": K_NEIGHBOURS,
            "settings": {"n_sample": int(len(idx)), "n_pca": int(pca.n_components_),
                         "n_neighbors": n_neighbors, "min_dist": min_dist, "target_weight": 0.5,
                         "seed": seed}}


def project(emb: dict, features: np.ndarray) -> np.ndarray:
    """2-D coordinates (N, 2) float64 of landmark feature rows (N, F); N may be 0."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != len(emb["mean"]):
        raise ValueError(f"expected features of shape (N, {len(emb['mean'])}), got {x.shape}")
    if len(x) == 0:
        return np.zeros((0, 2))
    z = (np.nan_to_num(x) - emb["mean"]) / emb["scale"]
    p = (z - emb["pca_mean"]) @ emb["components"].T.astype(np.float64)
    a = emb["anchors"].astype(np.float64)
    d2 = (p ** 2).sum(1)[:, None] + (a ** 2).sum(1)[None, :] - 2 * p @ a.T
    d = np.sqrt(np.maximum(d2, 0.0))
    k = int(emb["k"])
    nn = np.argpartition(d, k - 1, axis=1)[:, :k]
    dn = np.take_along_axis(d, nn, axis=1)
    w = 1.0 / (dn + 1e-6)
    w /= w.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkc->nc", w, emb["coords"].astype(np.float64)[nn])
