"""Is the face model as accurate on darker as on lighter skin? A skin-tone audit on the colour corpora.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/face_fairness.py [--data DIR] \
        [--out benchmarks/results/face_fairness.json] [--plot docs/img/face_skin_tone.png]

No face corpus here labels sex, age or skin tone. Skin tone can be *estimated* from a colour photo: the
individual typology angle (ITA, Chardon et al. 1991; used for the skin-tone audits of face data sets),
``ITA = atan((L* - 50) / b*)`` in degrees from the CIELAB lightness ``L*`` and yellow-blue ``b*`` of skin
pixels, here the median over three patches the landmarks place on the cheeks and forehead (pixels
between the 10th and 90th lightness percentile, against highlights, shadows, hair and glasses). Bands of
the dermatology literature: very light > 55°, light 41–55°, intermediate 28–41°, tan 10–28°,
brown −30–10°, dark < −30°. An estimate, not a label: the light a photo was taken in moves ITA as much as
skin does (a face in shade reads darker), so a band mixes skin tone and lighting; the report gives each
band's median face lightness beside its accuracy.

The faces with landmarks of SFEW, ExpW and AffectNet-48 (the colour corpora; FER2013, CK+48 and muxspace
are grey) are scored by the committed face model, which never saw any of them: accuracy (Wilson 95 %
interval), balanced accuracy (mean class recall, less sensitive to a band's label mix) and each band's
label shares, per corpus and pooled. The face model card (``python -m training.face --card-only``) shows the
table when it was measured on the committed artefact (same sha256): re-run this after retraining.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from multimodal_fer.labels import EMOTIONS, N_EMOTIONS  # noqa: E402
from multimodal_fer.paths import REPO_DIR, SHARED_DATA  # noqa: E402

CORPORA = ("sfew", "expw", "affectnet48")
COMMAND = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/face_fairness.py"
SKIN_LANDMARKS = (205, 425, 151)  # left / right cheek, forehead (MediaPipe face-mesh indices)
EYE_CORNERS = (33, 263)
PATCH_RADIUS = 0.12  # of the eye-corner distance
LIGHTNESS_TRIM = (10, 90)  # percentiles of L* kept
MIN_CHROMA = 2.0  # b* at or below this: no yellow in the skin pixels (grey or blue-cast photo), no estimate
#: (name, lower ITA bound in degrees), lightest first; a face belongs to the first band whose bound it exceeds
ITA_BANDS = (("very light", 55.0), ("light", 41.0), ("intermediate", 28.0), ("tan", 10.0), ("brown", -30.0),
             ("dark", -math.inf))
MIN_BAND_FACES = 30  # bands with fewer faces are listed, not plotted


def skin_lab(image: np.ndarray, points: np.ndarray) -> tuple[float, float] | None:
    """Median ``(L*, b*)`` of the skin patches of one face.

    Parameters
    ----------
    image : np.ndarray, shape (H, W, 3), uint8 RGB
    points : np.ndarray, shape (478, 3)
        Landmarks normalised to the image.

    Returns
    -------
    (float, float) or None
        ``L*`` in [0, 100] and ``b*``; None when the patches hold fewer than 10 pixels.
    """
    from skimage.color import rgb2lab

    h, w = image.shape[:2]
    xy = points[:, :2].astype(np.float64) * [w, h]
    r = PATCH_RADIUS * float(np.linalg.norm(xy[EYE_CORNERS[1]] - xy[EYE_CORNERS[0]]))
    r = max(r, 1.0)
    yy, xx = np.mgrid[0:h, 0:w]
    mask = np.zeros((h, w), bool)
    for i in SKIN_LANDMARKS:
        mask |= (xx - xy[i, 0]) ** 2 + (yy - xy[i, 1]) ** 2 <= r * r
    if mask.sum() < 10:
        return None
    lab = rgb2lab(image[mask][None].astype(np.float64) / 255.0)[0]
    lo, hi = np.percentile(lab[:, 0], LIGHTNESS_TRIM)
    keep = (lab[:, 0] >= lo) & (lab[:, 0] <= hi)
    return float(np.median(lab[keep, 0])), float(np.median(lab[keep, 2]))


def ita_degrees(lightness: float, b: float) -> float:
    """Individual typology angle ``atan((L* - 50) / b*)`` in degrees; NaN when ``b* <= MIN_CHROMA``."""
    if not b > MIN_CHROMA:
        return float("nan")
    return math.degrees(math.atan((lightness - 50.0) / b))


def ita_band(ita: float) -> str | None:
    """Name of the ITA band of an angle (:data:`ITA_BANDS`); None for NaN."""
    if math.isnan(ita):
        return None
    return next(name for name, lower in ITA_BANDS if ita > lower)


def band_table(pred: np.ndarray, y: np.ndarray, bands: list[str | None], lightness: np.ndarray) -> dict:
    """Per ITA band (and faces with no estimate): n, accuracy with its interval, balanced accuracy, label
    shares and median face lightness."""
    from multimodal_fer.evaluation import wilson_interval

    bands_arr = np.array([b if b is not None else "no estimate" for b in bands])
    out = {}
    for name in [b for b, _ in ITA_BANDS] + ["no estimate"]:
        m = bands_arr == name
        n = int(m.sum())
        if n == 0:
            continue
        hits = int((pred[m] == y[m]).sum())
        present = [k for k in range(N_EMOTIONS) if (y[m] == k).any()]
        balanced = float(np.mean([(pred[m][y[m] == k] == k).mean() for k in present]))
        out[name] = {"n": n, "accuracy": round(hits / n, 4), "accuracy_95": wilson_interval(hits, n),
                     "balanced_accuracy": round(balanced, 4),
                     "label_share": dict(zip(EMOTIONS, np.round(np.bincount(y[m], minlength=N_EMOTIONS) / n, 3)
                                             .tolist())),
                     "median_lightness": round(float(np.nanmedian(lightness[m])), 1) if np.isfinite(lightness[m]).any()
                     else None}
    return out


def plot(results: dict, path: Path) -> None:
    import os

    os.environ.setdefault("MPLCONFIGDIR", str(REPO_DIR / ".cache" / "matplotlib"))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [b for b, _ in ITA_BANDS]
    groups = list(CORPORA) + ["pooled"]
    fig, ax = plt.subplots(figsize=(9, 4.2))
    width = 0.8 / len(groups)
    for g, corpus in enumerate(groups):
        table = results[corpus]["bands"]
        for i, band in enumerate(names):
            row = table.get(band)
            if row is None or row["n"] < MIN_BAND_FACES:
                continue
            x = i + (g - (len(groups) - 1) / 2) * width
            lo, hi = row["accuracy_95"]
            ax.bar(x, row["accuracy"], width, color=f"C{g}", label=corpus)
            ax.errorbar(x, row["accuracy"], yerr=[[row["accuracy"] - lo], [hi - row["accuracy"]]], color="k",
                        capsize=2, lw=0.8)
            ax.text(x, hi + 0.01, str(row["n"]), ha="center", va="bottom", fontsize=6, rotation=90)
    handles, labels = ax.get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    ax.legend(seen.values(), seen.keys(), fontsize=8, ncol=4, loc="upper right")
    ax.set_xticks(range(len(names)), [f"{n}\n(ITA > {lo:g}°)" if lo > -math.inf else f"{n}\n(ITA ≤ -30°)"
                                      for n, lo in ITA_BANDS], fontsize=8)
    ax.set_ylabel("7-class accuracy (95 % interval)")
    ax.set_ylim(0, 0.85)
    ax.set_title("Face model on corpora it never saw, by estimated skin tone (numbers: faces)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SHARED_DATA / "faces")
    ap.add_argument("--out", type=Path, default=REPO_DIR / "benchmarks" / "results" / "face_fairness.json")
    ap.add_argument("--plot", type=Path, default=REPO_DIR / "docs" / "img" / "face_skin_tone.png")
    args = ap.parse_args(argv)
    from PIL import Image

    from multimodal_fer.face.model import FaceModel
    from training import face as T

    t0 = time.perf_counter()
    model = FaceModel.load()
    results: dict = {}
    pooled: dict[str, list] = {"pred": [], "y": [], "bands": [], "lightness": []}
    for name in CORPORA:
        corpus = args.data / name
        table, x, found, _, points = T.corpus_features(corpus)
        crops = T.corpus_crops(corpus)
        pred = model.predict_proba(x[found], crops[found], calibrated=False).argmax(axis=1)
        y = table["y"].to_numpy()[found]
        itas, lightness = [], []
        for i in np.flatnonzero(found):
            with Image.open(corpus / table["path"].iloc[i]) as img:
                lab = skin_lab(np.asarray(img.convert("RGB")), points[i])
            itas.append(ita_degrees(*lab) if lab else float("nan"))
            lightness.append(lab[0] if lab else float("nan"))
        bands = [ita_band(v) for v in itas]
        light = np.asarray(lightness)
        results[name] = {"faces": int(found.sum()), "accuracy": round(float((pred == y).mean()), 4),
                         "ita_median": round(float(np.nanmedian(itas)), 1), "bands": band_table(pred, y, bands, light)}
        for key, v in (("pred", pred), ("y", y), ("bands", bands), ("lightness", light)):
            pooled[key].append(v)
        print(name, {b: (r["n"], r["accuracy"]) for b, r in results[name]["bands"].items()}, flush=True)
    pred, y = np.concatenate(pooled["pred"]), np.concatenate(pooled["y"])
    results["pooled"] = {"faces": int(len(y)), "accuracy": round(float((pred == y).mean()), 4),
                         "bands": band_table(pred, y, sum(pooled["bands"], []), np.concatenate(pooled["lightness"]))}
    payload = {"face_model": model.version, "results": results,
               "method": {"skin_landmarks": SKIN_LANDMARKS, "patch_radius_of_eye_distance": PATCH_RADIUS,
                          "lightness_trim_percentiles": LIGHTNESS_TRIM, "min_b": MIN_CHROMA,
                          "bands": [[n, lo if lo > -math.inf else None] for n, lo in ITA_BANDS]},
               "python": platform.python_version(), "command": COMMAND, "seconds": round(time.perf_counter() - t0, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1) + "\n")
    plot(results, args.plot)
    print("pooled:", {b: (r["n"], r["accuracy"], r["accuracy_95"]) for b, r in results["pooled"]["bands"].items()})
    print(f"wrote {args.out} and {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
