"""A small, plainly synthetic demo bucket: 2 patients × 2 sessions with a visible face and speech.

Nothing here is a real patient. Faces are two public-domain portraits that ship inside installed
packages (Grace Hopper from matplotlib's sample data; the NASA astronaut portrait from
scikit-image), animated so that the lips open with the patient's voice. Speech is synthesised
with Debian's ``espeak-ng``: in each session a "clinician" voice asks a question (the portrait's
lips stay closed) and the "patient" voice answers (the lips move). Videos are H.264 + AAC MP4
written with PyAV; a ``manifest.csv`` gives dates, sites, arms and clinicians.

README command 1 (``bash scripts/demo.sh``) runs :func:`main`::

    python -m scripts.demo_bucket [--dir demo] [--fps 5] [--asr-model base]

which builds ``<dir>/bucket``, processes it with ``mfer run`` into ``<dir>/warehouse.duckdb`` and
prints rows of the views. Developer tooling, outside the run-time package (``multimodal_fer``
never imports it).
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VIDEO_FPS = 15  # frames per second of the generated videos
AUDIO_SR = 16000  # Hz
FRAME_SIDE = 480  # pixels: videos are square
GAP_S = 0.8  # seconds of silence between turns
MAX_OPEN_PX = 14.0  # pixels the lower lip drops at full loudness

# inner-lip contour of MediaPipe's face mesh (upper lip left→right, then lower lip right→left)
UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_INNER = (324, 318, 402, 317, 14, 87, 178, 88, 95)


@dataclass(frozen=True)
class Turn:
    speaker: str  # "clinician" or "patient"
    text: str


@dataclass(frozen=True)
class DemoSession:
    patient_id: str
    session_id: str
    recorded_at: str
    site: str
    trial_arm: str
    clinician_id: str
    turns: tuple[Turn, ...]


PATIENT_FACES = {"P001": "grace_hopper", "P002": "astronaut"}
PATIENT_VOICES = {"P001": ("en-us+f3", 140, 55), "P002": ("en-us+m3", 150, 45)}  # voice, words/min, pitch
CLINICIAN_VOICE = ("en-gb+m1", 165, 40)

SESSIONS: tuple[DemoSession, ...] = (
    DemoSession("P001", "S01", "2026-09-01T10:00:00", "site-a", "treatment", "C01", (
        Turn("clinician", "How have you been feeling since our last visit?"),
        Turn("patient", "Honestly, it has been a hard week. I feel tired and sad most days, and I miss my sister."),
    )),
    DemoSession("P001", "S02", "2026-10-01T10:00:00", "site-a", "treatment", "C01", (
        Turn("clinician", "How are things going this month?"),
        Turn("patient", "Much better, thank you! I went walking with friends and I really enjoyed it. I am happy."),
    )),
    DemoSession("P002", "S01", "2026-09-03T14:30:00", "site-b", "control", "C02", (
        Turn("clinician", "Tell me about your week."),
        Turn("patient", "It was wonderful. We celebrated my birthday and I laughed a lot. I feel great."),
    )),
    DemoSession("P002", "S02", "2026-10-05T14:30:00", "site-b", "control", "C02", (
        Turn("clinician", "What happened at work?"),
        Turn("patient", "I am furious. They cancelled my project again and nobody even told me. It is unfair."),
    )),
)


def _espeak(text: str, voice: tuple[str, int, int]) -> np.ndarray:
    """Synthesise speech with espeak-ng; returns float32 mono at :data:`AUDIO_SR`."""
    import librosa
    import soundfile as sf

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed: run `bash scripts/setup.sh` (it installs it with apt-get)")
    name, rate, pitch = voice
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "say.wav"
        subprocess.run([exe, "-v", name, "-s", str(rate), "-p", str(pitch), "-w", str(wav), text], check=True,
                       capture_output=True)
        data, sr = sf.read(str(wav), dtype="float32")
    return librosa.resample(data.reshape(-1), orig_sr=sr, target_sr=AUDIO_SR).astype(np.float32)


def _portrait(name: str) -> np.ndarray:
    """A square RGB portrait, :data:`FRAME_SIDE` pixels."""
    from PIL import Image

    if name == "grace_hopper":
        import matplotlib.cbook

        img = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")).convert("RGB")
        w, h = img.size
        img = img.crop((0, 0, w, w))  # the face sits in the upper square
    elif name == "astronaut":
        import skimage.data

        img = Image.fromarray(skimage.data.astronaut())
    else:
        raise ValueError(name)
    return np.asarray(img.resize((FRAME_SIDE, FRAME_SIDE), Image.BICUBIC))


def _mouth(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates of the inner-lip landmarks (upper, lower) of the portrait's face."""
    from multimodal_fer.face.landmarks import landmarks_from_image

    obs = landmarks_from_image(rgb)
    if obs is None:
        raise RuntimeError("no face found in the demo portrait")
    h, w = rgb.shape[:2]
    pts = obs.points[:, :2] * np.array([w, h])
    return pts[list(UPPER_INNER)], pts[list(LOWER_INNER)]


def _open_mouth(rgb: np.ndarray, upper: np.ndarray, lower: np.ndarray, opening_px: float) -> np.ndarray:
    """Drop the lower lip and jaw by ``opening_px`` pixels and darken the mouth cavity."""
    import cv2

    if opening_px < 0.5:
        return rgb
    h, w = rgb.shape[:2]
    cx, cy = upper[:, 0].mean(), upper[:, 1].mean()
    half_w = (upper[:, 0].max() - upper[:, 0].min()) * 0.75
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    below = np.clip((yy - cy) / 4.0, 0.0, 1.0)  # only pixels below the lip line move
    falloff = np.exp(-(((xx - cx) / half_w) ** 2)) * np.exp(-(np.clip(yy - cy, 0, None) / (3.0 * half_w)) ** 2)
    map_y = yy - opening_px * below * falloff
    out = cv2.remap(rgb, xx, map_y.astype(np.float32), interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    moved = lower.copy()
    moved[:, 1] += opening_px * np.exp(-(((moved[:, 0] - cx) / half_w) ** 2))
    cavity = np.concatenate([upper, moved]).astype(np.int32)
    cv2.fillPoly(out, [cavity], (45, 20, 25))
    return out


def _envelope(audio: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Loudness envelope in [0, 1] sampled at ``times`` (seconds)."""
    win = int(0.05 * AUDIO_SR)
    out = np.zeros(times.size, dtype=np.float32)
    for i, t in enumerate(times):
        a = audio[int(t * AUDIO_SR): int(t * AUDIO_SR) + win]
        out[i] = np.sqrt(np.mean(a ** 2)) if a.size else 0.0
    return np.clip(out / (np.percentile(out[out > 0], 90) + 1e-9) if np.any(out > 0) else out, 0.0, 1.0)


def make_recording(path: Path, session: DemoSession) -> float:
    """Write one demo session as MP4; returns its duration in seconds."""
    import av

    patient_audio, track = [], []
    gap = np.zeros(int(GAP_S * AUDIO_SR), dtype=np.float32)
    patient_mask = []
    for turn in session.turns:
        voice = CLINICIAN_VOICE if turn.speaker == "clinician" else PATIENT_VOICES[session.patient_id]
        speech = _espeak(turn.text, voice)
        track += [gap, speech]
        patient_mask += [np.zeros(gap.size, bool), np.full(speech.size, turn.speaker == "patient")]
    track.append(gap)
    patient_mask.append(np.zeros(gap.size, bool))
    audio = np.concatenate(track)
    is_patient = np.concatenate(patient_mask)
    patient_audio = np.where(is_patient, audio, 0.0).astype(np.float32)
    duration = audio.size / AUDIO_SR

    portrait = _portrait(PATIENT_FACES[session.patient_id])
    upper, lower = _mouth(portrait)
    n_frames = int(np.ceil(duration * VIDEO_FPS))
    times = np.arange(n_frames) / VIDEO_FPS
    opening = _envelope(patient_audio, times) * MAX_OPEN_PX

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        vstream = container.add_stream("libx264", rate=VIDEO_FPS)
        vstream.width = vstream.height = FRAME_SIDE
        vstream.pix_fmt = "yuv420p"
        vstream.options = {"crf": "28", "preset": "veryfast"}
        astream = container.add_stream("aac", rate=AUDIO_SR)
        astream.layout = "mono"
        for i in range(n_frames):
            # a slow sway so that the face is not a still picture
            dx = int(round(4 * np.sin(2 * np.pi * times[i] / 5.0)))
            frame_rgb = np.roll(_open_mouth(portrait, upper, lower, float(opening[i])), dx, axis=1)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_rgb), format="rgb24")
            for packet in vstream.encode(frame):
                container.mux(packet)
        for packet in vstream.encode():
            container.mux(packet)
        samples = 1024
        for start in range(0, audio.size, samples):
            chunk = audio[start:start + samples]
            aframe = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="flt", layout="mono")
            aframe.sample_rate = AUDIO_SR
            aframe.pts = start
            for packet in astream.encode(aframe):
                container.mux(packet)
        for packet in astream.encode():
            container.mux(packet)
    return duration


def make_demo_bucket(root: Path, *, sessions: tuple[DemoSession, ...] = SESSIONS, progress=print) -> Path:
    """Create the demo bucket (recordings + ``manifest.csv`` + a README saying it is synthetic)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for s in sessions:
        target = root / s.patient_id / f"{s.session_id}.mp4"
        if target.exists():
            continue
        seconds = make_recording(target, s)
        progress(f"demo: wrote {target} ({seconds:.1f} s, synthetic)")
    with open(root / "manifest.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["patient_id", "session_id", "recorded_at", "site", "trial_arm", "clinician_id"])
        for s in sessions:
            writer.writerow([s.patient_id, s.session_id, s.recorded_at, s.site, s.trial_arm, s.clinician_id])
    (root / "_SYNTHETIC_DEMO_README.txt").write_text(
        "SYNTHETIC DEMO DATA - not real patients.\n"
        "Faces: public-domain portraits shipped in matplotlib (Grace Hopper) and scikit-image (NASA astronaut),\n"
        "with lips animated by the synthetic voice. Speech: espeak-ng.\n"
        "Made by scripts/demo.sh (scripts/demo_bucket.py).\n")
    return root


def print_rows(db: Path) -> None:
    """The demo's rows: per-session summary, longitudinal view and notable moments."""
    from multimodal_fer import store
    from multimodal_fer.cli import _print_df

    con = store.connect_readonly(db)
    try:
        print("\nPer-session summary (v_session_summary):")
        _print_df(con.sql("SELECT patient_id, session_id, recorded_at, dominant_emotion, valence_mean, arousal_mean, "
                          "speaking_time_s, face_coverage FROM v_session_summary").df())
        print("\nLongitudinal view (v_patient_longitudinal):")
        _print_df(con.sql("SELECT patient_id, session_index, session_id, dominant_emotion, valence_mean, "
                          "baseline_valence, valence_change, speaking_share FROM v_patient_longitudinal").df())
        print("\nNotable moments:")
        _print_df(con.sql("SELECT s.patient_id, s.session_id, m.kind, round(m.start_s, 1) AS start_s, "
                          "round(m.valence, 2) AS valence, m.label, m.words FROM moments m JOIN sessions s USING "
                          "(recording_sha256) WHERE m.rank = 1 ORDER BY 1, 2, 3").df())
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    """Synthetic demo bucket → ``mfer run`` → longitudinal rows (exit status of ``mfer run``)."""
    from multimodal_fer.cli import DISCLAIMER
    from multimodal_fer_flows import cli

    parser = argparse.ArgumentParser(prog="python -m scripts.demo_bucket",
                                     description="build the synthetic demo bucket, process it, print rows")
    parser.add_argument("--dir", default="demo", help="where to put the bucket and warehouse (default %(default)s)")
    parser.add_argument("--fps", default="5.0", help="face frames sampled per second (default 5)")
    parser.add_argument("--asr-model", default="base", help="base (default), tiny.en, or a model path")
    args = parser.parse_args(argv)
    print("Building the SYNTHETIC demo bucket (public-domain portraits + espeak-ng speech; no real patients).")
    bucket = make_demo_bucket(Path(args.dir) / "bucket")
    db = Path(args.dir) / "warehouse.duckdb"
    rc = cli.main(["run", str(bucket), "--db", str(db), "--fps", str(args.fps), "--asr-model", args.asr_model])
    if not db.exists():
        return rc
    print_rows(db)
    print(f"\n{DISCLAIMER}\nQuery it yourself: mfer sql \"select * from v_patient_longitudinal\" --db {db}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
