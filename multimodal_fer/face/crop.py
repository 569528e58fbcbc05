"""Aligned grey face crops for the CNN member of the face model.

One function, :func:`aligned_crop`, serves both training (FER2013 / CK+ / muxspace still
images) and video frames (``stream.py``), so that the CNN sees the same geometry everywhere:
a similarity transform (rotation, scale, shift; no shear) puts the two eye centres (mean of each
eye's two corners, from the MediaPipe landmarks) on one horizontal line at fixed positions of a
``CROP_SIZE`` x ``CROP_SIZE`` grey image. Pixels outside the source image repeat its border.

Large faces (video frames) are first shrunk with area averaging to about the crop's scale, so
the crop is not aliased; small faces (48 px FER2013 crops) are interpolated bilinearly.
"""

from __future__ import annotations

import cv2
import numpy as np

CROP_SIZE = 48  #: side of the crop in pixels
EYE_DISTANCE = 0.40  #: inter-ocular distance as a fraction of CROP_SIZE
EYE_Y = 0.38  #: height of the eye line as a fraction of CROP_SIZE (from the top)
RIGHT_EYE = (33, 133)  # subject's right eye (image left): outer, inner corner
LEFT_EYE = (263, 362)


def _grey(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.size and float(np.nanmax(arr)) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3:
        arr = cv2.cvtColor(np.ascontiguousarray(arr[:, :, :3]), cv2.COLOR_RGB2GRAY)
    if arr.ndim != 2:
        raise ValueError(f"expected a grey (H, W) or RGB (H, W, 3) image, got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def crop_transform(
    points: np.ndarray,
    image_size: tuple[int, int],
    *,
    size: int = CROP_SIZE,
    angle_deg: float = 0.0,
    scale: float = 1.0,
    shift: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """2 x 3 affine matrix from image pixels to crop pixels.

    Parameters
    ----------
    points : np.ndarray, shape (478, 3) or (478, 2)
        Landmarks normalised to the image (as :class:`FaceObservation` gives them).
    image_size : (int, int)
        ``(width, height)`` of the image in pixels.
    size : int
        Crop side in pixels.
    angle_deg, scale, shift
        Extra rotation (degrees, about the crop centre), zoom and shift (crop pixels) applied
        after alignment: training augmentation; leave at the defaults for inference.
    """
    w, h = image_size
    pts = np.asarray(points, dtype=np.float64)[:, :2] * np.array([w, h], dtype=np.float64)
    right = pts[list(RIGHT_EYE)].mean(axis=0)  # image left
    left = pts[list(LEFT_EYE)].mean(axis=0)
    return eye_transform(right, left, size=size, angle_deg=angle_deg, scale=scale, shift=shift)


def eye_transform(
    right: np.ndarray,
    left: np.ndarray,
    *,
    size: int = CROP_SIZE,
    angle_deg: float = 0.0,
    scale: float = 1.0,
    shift: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """2 x 3 affine matrix from image pixels to crop pixels that puts the eye centres ``right``
    (the eye on the image's left) and ``left`` (x, y pixels) at their fixed crop positions;
    see :func:`crop_transform` for the other arguments."""
    right, left = np.asarray(right, dtype=np.float64), np.asarray(left, dtype=np.float64)
    d = left - right
    iod = float(np.hypot(*d))
    if not np.isfinite(iod) or iod < 1e-6:
        raise ValueError("degenerate eye landmarks")
    s = EYE_DISTANCE * size / iod * scale
    theta = np.arctan2(d[1], d[0]) - np.radians(angle_deg)  # rotate the eye line to horizontal
    c, si = np.cos(theta) * s, np.sin(theta) * s
    rot = np.array([[c, si], [-si, c]])
    mid = (left + right) / 2
    target = np.array([size / 2 + shift[0], EYE_Y * size + shift[1]])
    t = target - rot @ mid
    return np.hstack([rot, t[:, None]])


def aligned_crop(
    image: np.ndarray,
    points: np.ndarray,
    image_size: tuple[int, int] | None = None,
    *,
    size: int = CROP_SIZE,
    angle_deg: float = 0.0,
    scale: float = 1.0,
    shift: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Grey face crop with the eyes level at fixed positions.

    Parameters
    ----------
    image : np.ndarray, shape (H, W, 3) RGB or (H, W) grey, uint8
        The image the landmarks were found in (a still image or a video frame).
    points : np.ndarray, shape (478, 3)
        That face's landmarks, normalised to the image (``FaceObservation.points``).
    image_size : (int, int), optional
        ``(width, height)`` the points are normalised by; default the image's own size.
    size, angle_deg, scale, shift
        See :func:`crop_transform` (the augmentation arguments default to none).

    Returns
    -------
    np.ndarray, shape (size, size), uint8
    """
    grey = _grey(image)
    h, w = grey.shape
    if image_size is None:
        image_size = (w, h)
    m = crop_transform(points, image_size, size=size, angle_deg=angle_deg, scale=scale, shift=shift)
    return _warp(grey, m, size)


def _warp(grey: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    h, w = grey.shape
    zoom = float(np.hypot(m[0, 0], m[0, 1]))  # crop pixels per image pixel
    if zoom < 0.5:  # large face: shrink first (area averaging), then align
        f = min(1.0, 1.5 * zoom)
        small = cv2.resize(grey, (max(1, int(round(w * f))), max(1, int(round(h * f)))), interpolation=cv2.INTER_AREA)
        fx, fy = small.shape[1] / w, small.shape[0] / h
        m = m @ np.array([[1 / fx, 0, 0], [0, 1 / fy, 0], [0, 0, 1]])
        grey = small
    return cv2.warpAffine(grey, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def crop_from_eyes(image: np.ndarray, eyes: np.ndarray, *, size: int = CROP_SIZE) -> np.ndarray:
    """Grey crop aligned like :func:`aligned_crop`, from two eye centres alone (e.g. a face
    detector's keypoints, :func:`~multimodal_fer.face.landmarks.eyes_from_detector`).

    Parameters
    ----------
    image : np.ndarray, (H, W, 3) RGB or (H, W) grey, uint8
    eyes : np.ndarray, shape (2, 2)
        ``[[x, y] image-left eye, [x, y] other eye]`` normalised to the image.

    Returns
    -------
    np.ndarray, shape (size, size), uint8
    """
    grey = _grey(image)
    h, w = grey.shape
    px = np.asarray(eyes, dtype=np.float64)[:, :2] * np.array([w, h], dtype=np.float64)
    return _warp(grey, eye_transform(px[0], px[1], size=size), size)


def whole_image_crop(image: np.ndarray, *, size: int = CROP_SIZE) -> np.ndarray:
    """The image itself as a face crop: its centred square, grey, resized to ``size`` x ``size``.
    Only meaningful for images that *are* face crops (FER2013-style corpora)."""
    grey = _grey(image)
    h, w = grey.shape
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    sq = grey[y0 : y0 + side, x0 : x0 + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(sq, (size, size), interpolation=interp)


#: Where a crop without landmarks came from (:func:`fallback_crop`).
FROM_DETECTOR = "detector"
FROM_IMAGE = "image"


def fallback_crop(
    image: np.ndarray, *, face_crops: bool = False, size: int = CROP_SIZE
) -> tuple[np.ndarray | None, str | None]:
    """A crop for a still image whose landmarks were not found.

    With ``face_crops`` (the caller knows every image is a face crop or a face photo, as in
    FER2013) the whole image (:func:`whole_image_crop`); otherwise the face detector's eye
    keypoints (:func:`crop_from_eyes`), if it finds a face. (On the FER2013 ``Training`` images
    without landmarks the detector's keypoints are often wrong — tiny eye distances on profiles
    and screams — and the CNN reads its crops worse than the whole images: 30.5 % vs 38.4 %
    accuracy on the 383 where the detector finds a face; see ``docs/face.md``.)

    Returns
    -------
    crop : np.ndarray (size, size) uint8, or None
    source : ``FROM_DETECTOR``, ``FROM_IMAGE`` or None
    """
    from multimodal_fer.face.landmarks import eyes_from_detector

    if face_crops:
        return whole_image_crop(image, size=size), FROM_IMAGE
    eyes = eyes_from_detector(image)
    if eyes is not None:
        try:
            return crop_from_eyes(image, eyes, size=size), FROM_DETECTOR
        except ValueError:  # degenerate keypoints
            pass
    return None, None


def crops_batch(image: np.ndarray, points_list: list[np.ndarray], image_size=None, **kw) -> np.ndarray:
    """:func:`aligned_crop` of several faces of one image, shape (N, size, size) uint8."""
    size = kw.get("size", CROP_SIZE)
    out = np.empty((len(points_list), size, size), dtype=np.uint8)
    for i, p in enumerate(points_list):
        out[i] = aligned_crop(image, p, image_size, **kw)
    return out
