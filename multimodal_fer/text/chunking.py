"""Cutting a long recording's speech into chunks the recogniser transcribes one at a time.

Pure: works on speech segments ``(start_s, end_s)`` in seconds; no audio is read here.
"""

from __future__ import annotations

ASR_CHUNK_S = 120.0  # s, longest stretch of audio handed to the recogniser at once
CHUNK_PAD_S = 0.5  # s of context kept on each side of the speech in a chunk


def plan_chunks(
    segments: list[tuple[float, float]], *, duration_s: float, max_s: float = ASR_CHUNK_S, pad_s: float = CHUNK_PAD_S
) -> list[tuple[float, float]]:
    """Cut a recording's speech into chunks of at most ``max_s`` seconds, in pauses.

    Consecutive speech segments are grouped while the group (with ``pad_s`` either side) fits in
    ``max_s``; chunks never overlap and silence between chunks is never transcribed. A single
    segment longer than ``max_s`` (no pause of 0.3 s for minutes) is cut at ``max_s``.

    Returns
    -------
    list of (start_s, end_s)
        Sorted, non-overlapping, within ``[0, duration_s]``.
    """
    if max_s <= 2 * pad_s:
        raise ValueError("max_s must exceed twice pad_s")
    pieces: list[tuple[float, float]] = []
    for s, e in segments:
        while e - s > max_s - 2 * pad_s:
            cut = s + max_s - 2 * pad_s
            pieces.append((s, cut))
            s = cut
        pieces.append((s, e))
    chunks: list[list[float]] = []
    for s, e in pieces:
        if chunks and e + pad_s - chunks[-1][0] <= max_s:
            chunks[-1][1] = e + pad_s
        else:
            chunks.append([s - pad_s, e + pad_s])
    out: list[tuple[float, float]] = []
    for s, e in chunks:
        s = max(s, out[-1][1] if out else 0.0, 0.0)
        e = min(e, duration_s)
        if e > s:
            out.append((s, e))
    return out
