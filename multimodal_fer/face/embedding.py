"""Supervised 2-D map of the landmark features (umap-learn), small enough to ship with the model.

Fitting (``training.face_embedding.fit_embedding``, at training time only): standardise the
landmark features, reduce them with PCA to ``N_PCA`` dimensions, and fit a *supervised* UMAP
(``target_metric="categorical"``, the emotion labels pull same-class faces together) on a
stratified sample of ``N_SAMPLE`` training faces. Only what projection needs is stored: the scaler
and PCA parameters, the PCA coordinates of the sampled faces and their 2-D UMAP coordinates (a few
hundred kB).

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
    d2 = (p**2).sum(1)[:, None] + (a**2).sum(1)[None, :] - 2 * p @ a.T
    d = np.sqrt(np.maximum(d2, 0.0))
    k = int(emb["k"])
    nn = np.argpartition(d, k - 1, axis=1)[:, :k]
    dn = np.take_along_axis(d, nn, axis=1)
    w = 1.0 / (dn + 1e-6)
    w /= w.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkc->nc", w, emb["coords"].astype(np.float64)[nn])
