"""Small CNN on the aligned grey face crop (:mod:`multimodal_fer.face.crop`), torch on CPU.

Architecture (``WIDTHS = (w1, w2, w3)``): three blocks of two 3x3 conv + batch-norm + ReLU and a
2x2 max-pool (48 -> 24 -> 12 -> 6 px), a 3x3 conv to ``w3 * 2`` channels, global average
pooling, dropout and a linear layer to 7 logits. Every crop is standardised on its own
(zero mean, unit standard deviation), which removes global brightness and contrast.
Inference (:func:`predict_proba`) is float32 and averages the crop and its mirror image (and,
given several networks, their probabilities).

Training (augmentation, bfloat16, the optimiser) lives in :mod:`training.face_cnn`, outside the
run-time package. Weights travel inside the face artefact as a dict of float32 numpy arrays
(``training.face_cnn.to_state``, :func:`from_state`), so loading needs no file besides
``face_model.joblib``.
"""

from __future__ import annotations

import numpy as np

WIDTHS = (32, 64, 128)
DROPOUT = 0.3
INFER_BATCH = 64  # crops per forward pass at inference (activations of 512 would take ≈ 200 MB)


def build(widths=WIDTHS, n_classes: int = 7, dropout: float = DROPOUT):
    """The (untrained) network; input (N, 1, 48, 48) float, output (N, n_classes) logits."""
    import torch.nn as nn

    layers, c_in = [], 1
    for w in widths:
        layers += [
            nn.Conv2d(c_in, w, 3, padding=1, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(inplace=True),
            nn.Conv2d(w, w, 3, padding=1, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        ]
        c_in = w
    layers += [
        nn.Conv2d(c_in, 2 * c_in, 3, padding=1, bias=False),
        nn.BatchNorm2d(2 * c_in),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(2 * c_in, n_classes),
    ]
    return nn.Sequential(*layers)


def standardise(crops: np.ndarray):
    """uint8 crops (N, S, S) -> float tensor (N, 1, S, S), each crop zero mean / unit std."""
    import torch

    return standardise_tensor(torch.from_numpy(np.asarray(crops, dtype=np.float32)))


def standardise_tensor(x):
    """:func:`standardise` of a tensor (N, S, S) of any number type, on its own device (a GPU in training)."""
    x = x.float().unsqueeze(1)
    mean = x.mean(dim=(2, 3), keepdim=True)
    std = x.std(dim=(2, 3), keepdim=True).clamp_min(1.0)
    return (x - mean) / std


def from_state(state: dict, widths=WIDTHS, n_classes: int = 7):
    """Network in eval mode from :func:`to_state`'s dict."""
    import torch

    net = build(widths, n_classes)
    net.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
    return net.eval()


def predict_proba(net, crops: np.ndarray, *, batch: int = INFER_BATCH, mirror: bool = True) -> np.ndarray:
    """Softmax probabilities (N, n_classes) float64 of uint8 crops (N, S, S); mean of the crop
    and its mirror image when ``mirror``. ``net`` is a network or a sequence of networks (copies
    trained with different seeds), whose probabilities are averaged; each batch is standardised
    (and mirrored) once for all of them."""
    import torch

    nets = list(net) if isinstance(net, (list, tuple)) else [net]
    crops = np.asarray(crops)
    n_out = nets[0][-1].out_features
    if len(crops) == 0:
        return np.zeros((0, n_out), dtype=np.float64)
    out = []
    with torch.inference_mode():
        for s in range(0, len(crops), batch):
            xs = [standardise(crops[s : s + batch])]
            if mirror:
                xs.append(torch.flip(xs[0], dims=[3]))
            p = torch.stack([torch.softmax(m(x), dim=1) for m in nets for x in xs]).mean(dim=0)
            out.append(p.double().numpy())
    return np.concatenate(out)
