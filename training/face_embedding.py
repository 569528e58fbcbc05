"""Fitting of the supervised 2-D map of the landmark features (umap-learn), at training time only.

:mod:`multimodal_fer.face.embedding` describes the map and projects new faces at run time.
"""

from __future__ import annotations

import numpy as np

from multimodal_fer.face.embedding import K_NEIGHBOURS, N_PCA, N_SAMPLE


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
