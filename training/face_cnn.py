"""Training of the face CNN (:mod:`multimodal_fer.face.cnn` holds the network and inference).

Training (:func:`train_cnn`): AdamW with a one-cycle learning-rate schedule, label smoothing,
and random augmentation of every batch: horizontal mirror, rotation (±``AUG_ROT_DEG``),
zoom (±``AUG_SCALE``), shift (±``AUG_SHIFT`` of the crop side), small brightness/contrast
changes and, with probability ``AUG_ERASE_P``, one erased rectangle (``AUG_ERASE_AREA`` of the
crop: occlusion by a hand, glasses, a microphone). Where the CPU has bfloat16 instructions
(AVX512-BF16 / AMX), the forward and backward passes run under bfloat16 autocast with weights
kept in float32 and the tensors channels-last (≈ 3.5x faster on a 2-core AVX512 machine);
elsewhere training runs in float32. :func:`to_state` turns the trained network into the dict of
float32 numpy arrays stored in the face artefact (:func:`multimodal_fer.face.cnn.from_state`
reads it back).
"""

from __future__ import annotations

import math
import time

import numpy as np

from multimodal_fer.face.cnn import WIDTHS, build, predict_proba, standardise
from multimodal_fer.labels import N_EMOTIONS

AUG_ROT_DEG = 15.0  # degrees, ±
AUG_SCALE = 0.12  # zoom, ± fraction
AUG_SHIFT = 0.08  # ± fraction of the crop side
AUG_ERASE_P = 0.5  # probability of erasing one rectangle
AUG_ERASE_AREA = (0.02, 0.15)  # erased fraction of the crop area
AUG_LOWRES_SIDE = (12, 32)  # pixels: side a low-resolution copy is scaled down to (then back up)
LABEL_SMOOTHING = 0.1


def augment(x, gen, *, rot_deg: float = AUG_ROT_DEG, scale: float = AUG_SCALE, shift: float = AUG_SHIFT,
            erase_p: float = AUG_ERASE_P, erase_area: tuple[float, float] = AUG_ERASE_AREA,
            lowres_p: float = 0.0, lowres_side: tuple[int, int] = AUG_LOWRES_SIDE):
    """Random mirror, rotation (± ``rot_deg`` degrees), zoom (± ``scale``), shift (± ``shift`` of
    the side), brightness / contrast (± 20 %) and, with probability ``erase_p``, one rectangle of
    ``erase_area`` (fractions of the area, aspect 1:2 to 2:1) replaced by noise, of a batch
    (N, 1, S, S) float tensor of standardised crops. With probability ``lowres_p`` a crop is
    scaled down to a side drawn from ``lowres_side`` (one per batch, pixels) and back up: a small,
    blurred face (a far camera, a 48 px still, a video call's low resolution)."""
    import torch
    import torch.nn.functional as tf

    n, dev = x.shape[0], x.device  # every random draw on the batch's device, from ``gen`` (on that device too)
    u = lambda: torch.rand(n, generator=gen, device=dev) * 2 - 1  # noqa: E731  uniform in [-1, 1]
    angle = u() * math.radians(rot_deg)
    zoom = 1 + u() * scale
    flip = torch.where(torch.rand(n, generator=gen, device=dev) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 1] = cos * flip, -sin
    theta[:, 1, 0], theta[:, 1, 1] = sin * flip, cos
    theta[:, 0, 2], theta[:, 1, 2] = u() * 2 * shift, u() * 2 * shift
    grid = tf.affine_grid(theta, list(x.shape), align_corners=False)
    out = tf.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    gain = (1 + u() * 0.2).view(n, 1, 1, 1)
    bias = (u() * 0.2).view(n, 1, 1, 1)
    out = out * gain + bias
    if erase_p > 0:  # one random rectangle per chosen crop set to noise
        size = x.shape[-1]
        lo, hi = erase_area
        area = (lo + torch.rand(n, generator=gen, device=dev) * (hi - lo)) * size * size
        aspect = torch.exp((torch.rand(n, generator=gen, device=dev) * 2 - 1) * math.log(2.0))
        eh = (area * aspect).sqrt().clamp(1, size).long()
        ew = (area / aspect).sqrt().clamp(1, size).long()
        y0 = (torch.rand(n, generator=gen, device=dev) * (size - eh + 1)).long()
        x0 = (torch.rand(n, generator=gen, device=dev) * (size - ew + 1)).long()
        rows = torch.arange(size, device=dev).view(1, size, 1)
        cols = torch.arange(size, device=dev).view(1, 1, size)
        box = ((rows >= y0.view(n, 1, 1)) & (rows < (y0 + eh).view(n, 1, 1))
               & (cols >= x0.view(n, 1, 1)) & (cols < (x0 + ew).view(n, 1, 1)))
        box &= (torch.rand(n, generator=gen, device=dev) < erase_p).view(n, 1, 1)
        noise = torch.randn(out.shape, generator=gen, device=dev)
        out = torch.where(box.unsqueeze(1), noise, out)
    if lowres_p > 0:
        side = int(torch.randint(lowres_side[0], lowres_side[1] + 1, (1,), generator=gen, device=dev))
        small = tf.interpolate(out, size=(side, side), mode="area")
        back = tf.interpolate(small, size=tuple(out.shape[-2:]), mode="bilinear", align_corners=False)
        pick = (torch.rand(n, generator=gen, device=dev) < lowres_p).view(n, 1, 1, 1)
        out = torch.where(pick, back, out)
    return out


def fixed_view(x, *, zoom: float = 1.0, rotation_deg: float = 0.0, shift_x: float = 0.0, shift_y: float = 0.0):
    """One fixed affine view of a batch (N, 1, S, S) of standardised crops, as :func:`augment` draws them
    (bilinear, border padding): ``zoom`` > 1 enlarges the face, ``rotation_deg`` turns it, ``shift_x`` /
    ``shift_y`` (fractions of the half-side) move the content towards smaller x / y. Test-time views
    (``benchmarks/face_cnn_tta.py``, :func:`training.face_device.predict`); the identity returns ``x``."""
    import torch
    import torch.nn.functional as tf

    if (zoom, rotation_deg, shift_x, shift_y) == (1.0, 0.0, 0.0, 0.0):
        return x
    a = math.radians(rotation_deg)
    theta = torch.tensor([[math.cos(a) / zoom, -math.sin(a) / zoom, shift_x],
                          [math.sin(a) / zoom, math.cos(a) / zoom, shift_y]], dtype=x.dtype, device=x.device)
    grid = tf.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    return tf.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def batch_norms(net) -> list:
    """The network's ``BatchNorm2d`` layers, in order."""
    import torch

    return [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]


def adapt_batch_norm(net, crops: np.ndarray, *, keep: float = 0.0, batch: int = 256):
    """A copy of ``net`` (eval mode) whose batch-norm statistics are re-estimated on unlabelled target faces
    (AdaBN, Li et al. 2016): ``crops`` (N, S, S) uint8 and their mirror images, cumulative means of the
    per-batch statistics, each layer fed by the adapted layers before it; then mixed with the network's own
    (:func:`blend_batch_norm`, ``keep`` of its own). Weights are unchanged; runs on the network's device.
    ``benchmarks/face_cnn_adabn.py`` and :mod:`training.face_device` report it (not shipped)."""
    import copy

    import torch

    from multimodal_fer.face.cnn import standardise_tensor

    new = copy.deepcopy(net).eval()
    device = next(new.parameters()).device
    for m in batch_norms(new):
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
        m.train()
    with torch.no_grad():
        for s in range(0, len(crops), batch):
            x = standardise_tensor(torch.from_numpy(np.ascontiguousarray(crops[s : s + batch])).to(device))
            new(torch.cat([x, torch.flip(x, dims=[3])]))
    return blend_batch_norm(net, new, keep=keep) if keep else new.eval()


def blend_batch_norm(own, target, *, keep: float):
    """A copy of ``target`` (eval mode; :func:`adapt_batch_norm` with ``keep`` 0) whose batch-norm statistics are
    ``keep`` · ``own``'s + (1 − ``keep``) · its own: the target's statistics estimated once, mixed at no cost."""
    import copy

    new = copy.deepcopy(target).eval()
    for m, o in zip(batch_norms(new), batch_norms(own)):
        m.running_mean.mul_(1.0 - keep).add_(keep * o.running_mean)
        m.running_var.mul_(1.0 - keep).add_(keep * o.running_var)
    return new


def balance_weights(y: np.ndarray, corpus: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Row weights: corpus ``c`` scaled by ``n_c ** -alpha`` (1: every corpus the same total
    weight), then class ``k`` by ``W_k ** -beta`` (``W_k``: the class's total weight after the
    corpus step; 1: every class the same total). Mean weight 1."""
    w = np.ones(len(y))
    for c in np.unique(corpus):
        w[corpus == c] = float((corpus == c).sum()) ** -alpha
    totals = np.bincount(y, weights=w, minlength=N_EMOTIONS)
    w = w * np.where(totals[y] > 0, totals[y], 1.0) ** -beta
    return w / w.mean()


def bf16_supported() -> bool:
    """Whether this CPU runs bfloat16 convolutions natively (oneDNN: AVX512-BF16 or AMX)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def to_state(net) -> dict:
    """float32 numpy copy of a network's state dict (for the joblib artefact)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}


def train_cnn(crops: np.ndarray, y: np.ndarray, *, val_crops: np.ndarray | None = None,
              val_y: np.ndarray | None = None, epochs: int = 20, batch: int = 128, lr: float = 3e-3,
              weight_decay: float = 5e-4, seed: int = 0, widths=WIDTHS, time_budget_s: float | None = None,
              class_weight: np.ndarray | None = None, init_state: dict | None = None,
              pct_start: float = 0.2, bf16: bool | None = None, augment_options: dict | None = None,
              sample_weight: np.ndarray | None = None, epoch_size: int | None = None,
              checkpoint=None, log=print):
    """Train the CNN on uint8 crops (N, S, S) with labels ``y`` (N,) int.

    ``init_state`` (from :func:`to_state`) continues training from those weights. The schedule
    is laid out for ``epochs``; with ``time_budget_s`` the epochs are cut down
    after the first one so the whole run fits the budget (the one-cycle schedule is then
    re-laid for the reduced count). ``bf16`` (default: :func:`bf16_supported`) trains under
    bfloat16 autocast, channels-last. ``augment_options``: keyword arguments of :func:`augment`
    (default: the module's ``AUG_*``). ``sample_weight`` (N,): every epoch draws ``epoch_size``
    (default N) rows with replacement, with probability proportional to it (class and corpus
    balance by resampling). ``checkpoint(epoch, net, history)``, when given, is called after every
    epoch.

    Returns
    -------
    net : torch.nn.Module in eval mode
    history : list of dict (epoch, seconds, train loss, val accuracy)
    """
    import torch
    import torch.nn as nn

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    n_classes = 7
    net = build(widths, n_classes)
    if init_state is not None:  # continue training from these weights
        net.load_state_dict({k: torch.from_numpy(np.asarray(v).copy()) for k, v in init_state.items()})
    bf16 = bf16_supported() if bf16 is None else bf16
    fmt = torch.channels_last if bf16 else torch.contiguous_format
    net = net.to(memory_format=fmt)
    x_all = standardise(crops)
    y_all = torch.from_numpy(np.asarray(y, dtype=np.int64))
    n_epoch = len(x_all) if epoch_size is None else int(epoch_size)
    if sample_weight is None:  # a permutation: at most every row once
        n_epoch = min(n_epoch, len(x_all))
    draw = None if sample_weight is None else torch.as_tensor(np.asarray(sample_weight, dtype=np.float64))
    steps = math.ceil(n_epoch / batch)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    weight = None if class_weight is None else torch.as_tensor(class_weight, dtype=torch.float32)
    loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=LABEL_SMOOTHING)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps, pct_start=pct_start)
    history = []
    t_start = time.perf_counter()
    ep = 0
    while ep < epochs:
        net.train()
        t0 = time.perf_counter()
        if draw is None:
            perm = torch.randperm(len(x_all), generator=gen)[:n_epoch]
        else:
            perm = torch.multinomial(draw, n_epoch, replacement=True, generator=gen)
        total = 0.0
        for s in range(steps):
            idx = perm[s * batch:(s + 1) * batch]
            xb = augment(x_all[idx], gen, **(augment_options or {})).contiguous(memory_format=fmt)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = loss_fn(net(xb).float(), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        ep += 1
        rec = {"epoch": ep, "seconds": round(time.perf_counter() - t0, 1),
               "train_loss": round(total / n_epoch, 4), "bf16": bf16}
        if val_crops is not None and len(val_crops):
            net.eval()
            pv = predict_proba(net, val_crops, mirror=False)
            rec["val_accuracy"] = round(float((pv.argmax(1) == np.asarray(val_y)).mean()), 4)
        history.append(rec)
        if checkpoint is not None:
            checkpoint(ep, net, history)
        log(f"  cnn epoch {ep}/{epochs}: {rec}", flush=True) if log is print else log(f"  cnn epoch {ep}/{epochs}: {rec}")
        if ep == 1 and time_budget_s is not None:
            per_epoch = time.perf_counter() - t_start
            fit = max(2, int(time_budget_s // max(per_epoch, 1e-3)))
            if fit < epochs:  # re-lay the schedule for the epochs that fit (epoch 1 was warm-up)
                log(f"  cnn: {per_epoch:.0f}s/epoch, budget {time_budget_s:.0f}s -> {fit} epochs")
                epochs = fit
                sched = torch.optim.lr_scheduler.OneCycleLR(
                    opt, max_lr=lr, total_steps=(epochs - 1) * steps, pct_start=0.15)
    return net.to(memory_format=torch.contiguous_format).eval(), history
