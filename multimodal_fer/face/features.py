"""Pure geometric features of one face's 478 MediaPipe landmarks.

Every function takes the landmarks of one face, ``points`` of shape (478, 3), either
normalised as :class:`~multimodal_fer.face.landmarks.FaceObservation` gives them (then pass
``image_size=(w, h)`` for non-square images, so that x and y share one unit) or already in
pixels. The face is first aligned to a canonical frontal frame (:func:`align`): a 3-D
similarity transform (Umeyama) that maps rigid landmarks (eye corners, nose bridge,
forehead, temples) onto a fixed template. In that frame the eye centres lie at
``(-0.5, 0, 0)`` and ``(+0.5, 0, 0)``: the unit is the inter-ocular distance, x points to the
image right (the subject's left), y points down, z away from the camera. Position, size,
in-plane rotation and (mostly) yaw and pitch are thereby removed; what is left is the shape
of brows, eyes, nose and mouth, i.e. the expression.
"""

from __future__ import annotations

import numpy as np

# --- landmark indices (MediaPipe Face Mesh topology; "right" = the subject's right = image left)
RIGHT_EYE_CORNERS = (33, 133)  # outer, inner
LEFT_EYE_CORNERS = (263, 362)  # outer, inner
RIGHT_EYE_UPPER = (160, 159, 158)  # upper lid, outer -> inner
RIGHT_EYE_LOWER = (144, 145, 153)  # lower lid, outer -> inner
LEFT_EYE_UPPER = (387, 386, 385)
LEFT_EYE_LOWER = (373, 374, 380)
RIGHT_BROW = (70, 63, 105, 66, 107)  # upper edge, outer -> inner
LEFT_BROW = (300, 293, 334, 296, 336)
RIGHT_BROW_LOWER = (46, 53, 52, 65, 55)
LEFT_BROW_LOWER = (276, 283, 282, 295, 285)
UPPER_LIP_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)  # image left -> right
LOWER_LIP_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
UPPER_LIP_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_LIP_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
MOUTH_CORNERS = (61, 291)  # right, left
INNER_LIP_MID = (13, 14)  # upper, lower
OUTER_LIP_MID = (0, 17)  # upper, lower
NOSE_TIP = 1
SUBNASALE = 2
NASION = 168
GLABELLA = 9
NOSE_WINGS = (98, 327)  # alae, right, left
CHIN = 152
CHEEKS = (205, 425)  # mid-cheek, right, left
JAW = (172, 397)  # jaw angle, right, left

#: Rigid landmarks used for alignment and their template position (inter-ocular units,
#: eye midpoint at the origin, x right, y down, z away from the camera). The template is the
#: left-right symmetrised mean of the 981 CK+48 faces (frontal, upright), so ``head_pose`` of
#: a face looking straight into the camera is about (0, 0, 0).
_TEMPLATE = {
    151: (0.0, -0.6046, -0.2741),
    9: (0.0, -0.3413, -0.3246),
    8: (0.0, -0.2062, -0.3084),
    168: (0.0, -0.0854, -0.3062),
    6: (0.0, +0.0366, -0.3788),
    197: (0.0, +0.1462, -0.4620),
    195: (0.0, +0.2476, -0.5530),
    5: (0.0, +0.3563, -0.6463),
    4: (0.0, +0.4884, -0.6874),
    1: (0.0, +0.5906, -0.6556),
    33: (-0.7189, -0.0097, +0.0417),
    133: (-0.2792, +0.0097, -0.0417),
    362: (+0.2792, +0.0097, -0.0417),
    263: (+0.7189, -0.0097, +0.0417),
    127: (-1.1304, +0.0588, +0.8380),
    356: (+1.1304, +0.0588, +0.8380),
    234: (-1.1242, +0.2847, +0.9044),
    454: (+1.1242, +0.2847, +0.9044),
}
RIGID_LANDMARKS = tuple(_TEMPLATE)
_TEMPLATE_POINTS = np.array([_TEMPLATE[i] for i in RIGID_LANDMARKS], dtype=np.float64)
_TEMPLATE_POINTS /= abs(_TEMPLATE[33][0] + _TEMPLATE[133][0])  # inter-ocular distance -> 1

#: Landmarks whose aligned (x, y) coordinates are features too (brows, eyes, nose, lips, jaw).
SHAPE_LANDMARKS = tuple(
    dict.fromkeys(
        RIGHT_BROW
        + LEFT_BROW
        + RIGHT_BROW_LOWER[2:]
        + LEFT_BROW_LOWER[2:]
        + RIGHT_EYE_UPPER
        + RIGHT_EYE_LOWER
        + LEFT_EYE_UPPER
        + LEFT_EYE_LOWER
        + UPPER_LIP_OUTER
        + LOWER_LIP_OUTER[1:-1]
        + UPPER_LIP_INNER[2:-2]
        + LOWER_LIP_INNER[2:-2]
        + NOSE_WINGS
        + (SUBNASALE, GLABELLA, CHIN)
        + CHEEKS
        + JAW
    )
)

_SCALAR_NAMES = (
    "mouth_width",
    "mouth_open_inner",
    "mouth_open_outer",
    "mouth_aspect",
    "upper_lip_thickness",
    "lower_lip_thickness",
    "corner_lift",
    "corner_lift_asym",
    "corner_below_nose",
    "corner_angle",
    "upper_lip_curv",
    "lower_lip_curv",
    "inner_upper_lip_curv",
    "inner_lower_lip_curv",
    "upper_lip_to_nose",
    "lower_lip_to_nose",
    "chin_to_nose",
    "eye_open",
    "eye_open_asym",
    "eye_aspect",
    "eye_width",
    "brow_outer_h",
    "brow_mid_outer_h",
    "brow_mid_h",
    "brow_mid_inner_h",
    "brow_inner_h",
    "brow_asym",
    "brow_inner_gap",
    "brow_lower_inner_gap",
    "brow_slope_deg",
    "brow_curv",
    "glabella_to_brow",
    "nose_wing_width",
    "nose_wing_to_eye",
    "cheek_to_eye",
    "cheek_width",
    "jaw_width",
)
#: Names of the columns of :func:`landmark_features`, in order.
FEATURE_NAMES: tuple[str, ...] = _SCALAR_NAMES + tuple(f"{axis}{i}" for i in SHAPE_LANDMARKS for axis in ("x", "y"))
N_FEATURES = len(FEATURE_NAMES)


def _metric(points: np.ndarray, image_size: tuple[int, int] | None) -> np.ndarray:
    """(478, 3) float64 points with one unit on all axes (pixels when ``image_size`` given)."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or pts.shape[0] < 468:
        raise ValueError(f"expected landmarks of shape (478, 3), got {pts.shape}")
    if image_size is not None:
        w, h = image_size
        pts = pts * np.array([w, h, w], dtype=np.float64)
    return pts


def _umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity ``dst ~ s * R @ src + t`` (least squares, proper rotation).

    Returns
    -------
    s : float, R : np.ndarray (3, 3), t : np.ndarray (3,)
    """
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - mu_s, dst - mu_d
    cov = b.T @ a / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    rot = u @ np.diag(d) @ vt
    var_s = (a**2).sum() / len(src)
    s = float((sig * d).sum() / var_s) if var_s > 0 else 1.0
    t = mu_d - s * rot @ mu_s
    return s, rot, t


def align(points: np.ndarray, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """Landmarks in the canonical frontal frame.

    Parameters
    ----------
    points : np.ndarray, shape (478, 3)
        Normalised landmarks (with ``image_size``) or landmarks in pixels.
    image_size : (int, int), optional
        ``(width, height)`` in pixels of the image the normalised points came from.

    Returns
    -------
    np.ndarray, shape (478, 3), float64
        Aligned points, unit = inter-ocular distance, eye midpoint at the origin.
    """
    pts = _metric(points, image_size)
    s, rot, t = _umeyama(pts[list(RIGID_LANDMARKS)], _TEMPLATE_POINTS)
    return (s * (rot @ pts.T)).T + t


def head_pose(points: np.ndarray, image_size: tuple[int, int] | None = None) -> tuple[float, float, float]:
    """Head rotation relative to a face looking straight into the camera.

    Parameters
    ----------
    points : np.ndarray, shape (478, 3)
    image_size : (int, int), optional
        See :func:`align`.

    Returns
    -------
    yaw_deg, pitch_deg, roll_deg : float
        Degrees; about 0 each for a frontal, upright face. Yaw > 0: the face turns towards
        the image right; pitch > 0: the face tilts up; roll > 0: the face leans clockwise
        in the image (its left eye, on the image right, goes down).
    """
    pts = _metric(points, image_size)
    _, rot, _ = _umeyama(_TEMPLATE_POINTS, pts[list(RIGID_LANDMARKS)])  # template -> face
    # rot = Rz(roll) @ Ry(yaw) @ Rx(pitch) in camera axes (x right, y down, z forward)
    yaw = np.degrees(np.arcsin(np.clip(-rot[2, 0], -1.0, 1.0)))
    pitch = np.degrees(np.arctan2(rot[2, 1], rot[2, 2]))
    roll = np.degrees(np.arctan2(rot[1, 0], rot[0, 0]))
    # signs so that: turning towards the image right, tilting up, leaning clockwise are > 0
    return float(-yaw), float(pitch), float(roll)


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))


def _curvature(p: np.ndarray) -> float:
    """Coefficient ``a`` of the least-squares parabola ``y = a x^2 + b x + c`` through
    aligned points (x, y), unit 1/IOD. With y pointing down, ``a > 0`` is a U shape (ends
    higher than the middle, e.g. a smiling lower lip), ``a < 0`` an arch."""
    x, y = p[:, 0], p[:, 1]
    if np.ptp(x) < 1e-9:
        return 0.0
    return float(np.polyfit(x - x.mean(), y, 2)[0])


def mouth_opening(points: np.ndarray, image_size: tuple[int, int] | None = None) -> float:
    """Inner-lip gap divided by the inter-ocular distance.

    Parameters
    ----------
    points : np.ndarray, shape (478, 3)
    image_size : (int, int), optional
        See :func:`align`.

    Returns
    -------
    float
        Unitless, >= 0: ~0 with closed lips, ~0.1-0.3 while speaking, ~0.5+ wide open.
    """
    a = align(points, image_size)
    gap = a[INNER_LIP_MID[1]] - a[INNER_LIP_MID[0]]
    return float(max(0.0, gap[1]))


def _mouth_features(a: np.ndarray) -> list[float]:
    """Mouth width, openings, lip thicknesses, corner lift and angle, lip curvatures and heights
    below the nose, and the chin's height (aligned landmarks ``a``)."""
    y = a[:, 1]
    rc, lc = a[MOUTH_CORNERS[0]], a[MOUTH_CORNERS[1]]
    ui, li = a[INNER_LIP_MID[0]], a[INNER_LIP_MID[1]]
    uo, lo = a[OUTER_LIP_MID[0]], a[OUTER_LIP_MID[1]]
    lip_mid_y = (uo[1] + lo[1]) / 2
    mouth_width = _dist(rc, lc)
    open_inner = max(0.0, li[1] - ui[1])
    open_outer = max(0.0, lo[1] - uo[1])
    # corner lift: how far the corners sit above the lips' mid-height (smile > 0, frown < 0)
    lift_r, lift_l = lip_mid_y - rc[1], lip_mid_y - lc[1]

    def corner_angle(c: np.ndarray) -> float:
        v1, v2 = uo[:2] - c[:2], lo[:2] - c[:2]
        cosang = v1 @ v2 / (np.linalg.norm(v1) * np.linalg.norm(v2) + 1e-12)
        return float(np.degrees(np.arccos(np.clip(cosang, -1.0, 1.0))))

    return [
        mouth_width,
        open_inner,
        open_outer,
        open_inner / (mouth_width + 1e-12),
        max(0.0, ui[1] - uo[1]),
        max(0.0, lo[1] - li[1]),
        (lift_r + lift_l) / 2,
        lift_l - lift_r,
        ((rc[1] + lc[1]) / 2) - y[SUBNASALE],
        (corner_angle(rc) + corner_angle(lc)) / 2,
        _curvature(a[list(UPPER_LIP_OUTER), :2]),
        _curvature(a[list(LOWER_LIP_OUTER), :2]),
        _curvature(a[list(UPPER_LIP_INNER), :2]),
        _curvature(a[list(LOWER_LIP_INNER), :2]),
        uo[1] - y[SUBNASALE],
        lo[1] - y[SUBNASALE],
        y[CHIN] - y[SUBNASALE],
    ]


def _eye_heights(a: np.ndarray) -> tuple[float, float]:
    """Mean height of the right and of the left eye's landmarks (aligned landmarks ``a``)."""
    eye_y_r = a[list(RIGHT_EYE_UPPER + RIGHT_EYE_LOWER + RIGHT_EYE_CORNERS), 1].mean()
    eye_y_l = a[list(LEFT_EYE_UPPER + LEFT_EYE_LOWER + LEFT_EYE_CORNERS), 1].mean()
    return eye_y_r, eye_y_l


def _eye_features(a: np.ndarray) -> list[float]:
    """Eye opening (mean of sides, left minus right), opening over width, and eye width."""

    def eye_open(upper, lower, corners) -> tuple[float, float]:
        vert = np.mean([_dist(a[up], a[low]) for up, low in zip(upper, lower, strict=True)])
        width = _dist(a[corners[0]], a[corners[1]])
        return float(vert), float(vert / (width + 1e-12))

    eo_r, ea_r = eye_open(RIGHT_EYE_UPPER, RIGHT_EYE_LOWER, RIGHT_EYE_CORNERS)
    eo_l, ea_l = eye_open(LEFT_EYE_UPPER, LEFT_EYE_LOWER, LEFT_EYE_CORNERS)
    eye_w = (_dist(a[33], a[133]) + _dist(a[263], a[362])) / 2
    return [(eo_r + eo_l) / 2, eo_l - eo_r, (ea_r + ea_l) / 2, eye_w]


def _brow_features(a: np.ndarray, eye_y_r: float, eye_y_l: float) -> list[float]:
    """Brow heights above the eyes per position, asymmetry, inner distances, slope, curvature and
    the glabella's height below the inner brow ends."""
    y = a[:, 1]
    # brow heights above the eye centre (up > 0), per position outer -> inner, mean of sides
    brow_h_r = eye_y_r - y[list(RIGHT_BROW)]
    brow_h_l = eye_y_l - y[list(LEFT_BROW)]
    brow_h = (brow_h_r + brow_h_l) / 2

    def slope(brow) -> float:  # brow inner end raised relative to outer end (> 0), degrees
        outer, inner = a[brow[0]], a[brow[-1]]
        return float(np.degrees(np.arctan2(outer[1] - inner[1], abs(inner[0] - outer[0]) + 1e-12)))

    brow_mid_y = (y[RIGHT_BROW[-1]] + y[LEFT_BROW[-1]]) / 2
    return [
        *brow_h.tolist(),
        float(np.mean(brow_h_l - brow_h_r)),
        _dist(a[RIGHT_BROW[-1]], a[LEFT_BROW[-1]]),
        _dist(a[RIGHT_BROW_LOWER[-1]], a[LEFT_BROW_LOWER[-1]]),
        (slope(RIGHT_BROW) + slope(LEFT_BROW)) / 2,
        (_curvature(a[list(RIGHT_BROW), :2]) + _curvature(a[list(LEFT_BROW), :2])) / 2,
        y[GLABELLA] - brow_mid_y,
    ]


def _nose_cheek_jaw_features(a: np.ndarray, eye_y_r: float, eye_y_l: float) -> list[float]:
    """Nose width, nose-wing and cheek heights below the eyes, cheek and jaw widths."""
    y = a[:, 1]
    return [
        _dist(a[NOSE_WINGS[0]], a[NOSE_WINGS[1]]),
        ((y[NOSE_WINGS[0]] + y[NOSE_WINGS[1]]) / 2) - (eye_y_r + eye_y_l) / 2,
        ((y[CHEEKS[0]] + y[CHEEKS[1]]) / 2) - (eye_y_r + eye_y_l) / 2,
        _dist(a[CHEEKS[0]], a[CHEEKS[1]]),
        _dist(a[JAW[0]], a[JAW[1]]),
    ]


def landmark_features(points: np.ndarray, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """Expression features of one face.

    Parameters
    ----------
    points : np.ndarray, shape (478, 3)
        Landmarks of one face (normalised with ``image_size``, or in pixels).
    image_size : (int, int), optional
        See :func:`align`.

    Returns
    -------
    np.ndarray, shape (len(FEATURE_NAMES),), float32
        Distances (inter-ocular units), ratios, angles (degrees) and curvatures of mouth,
        eyes, brows, nose and cheeks, then the aligned (x, y) of ``SHAPE_LANDMARKS``.
        Invariant to translation, scale and in-plane rotation; largely to yaw and pitch.
    """
    a = align(points, image_size)
    eye_y_r, eye_y_l = _eye_heights(a)
    scalars = [*_mouth_features(a), *_eye_features(a), *_brow_features(a, eye_y_r, eye_y_l)]
    scalars += _nose_cheek_jaw_features(a, eye_y_r, eye_y_l)
    shape = a[list(SHAPE_LANDMARKS), :2].ravel()
    out = np.concatenate([np.asarray(scalars, dtype=np.float64), shape]).astype(np.float32)
    return out


def features_batch(points: np.ndarray, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """:func:`landmark_features` of many faces.

    Parameters
    ----------
    points : np.ndarray, shape (N, 478, 3)

    Returns
    -------
    np.ndarray, shape (N, len(FEATURE_NAMES)), float32
    """
    points = np.asarray(points)
    out = np.empty((len(points), N_FEATURES), dtype=np.float32)
    for i, p in enumerate(points):
        out[i] = landmark_features(p, image_size)
    return out
