"""Analyse one recording: split → face, voice, transcript → who speaks → fusion → summary → staged Parquet.

Plain Python (no Prefect). Models are loaded once per process (:func:`load_models`) and reused
across recordings. Every failure is raised as a :class:`StageError` naming the stage and a
reason a person can read; the flow quarantines the recording and goes on.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import hashlib
import json
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from multimodal_fer import __version__, media, quality, store, workspace
from multimodal_fer.env import trim_heap
from multimodal_fer.bucket import Recording, SessionMeta
from multimodal_fer.face.stream import empty_frames, run_face
from multimodal_fer.fusion import TEXT_COLS, VOICE_COLS, FusionOptions, fuse
from multimodal_fer.labels import EMOTIONS
from multimodal_fer.speakers import attribute_by_channel, attribute_segments, split_by_speaker
from multimodal_fer.summary import notable_moments, summarize
from multimodal_fer.text.asr import AsrOptions
from multimodal_fer_schemas.tables import PER_RECORDING

VOICE_CHUNK_S = 3.0  # seconds: patient speech is scored by the voice model in chunks of at most this
VOICE_MIN_CHUNK_S = 0.5  # seconds: shorter leftovers are merged into the previous chunk
VOICE_BATCH = 64  # chunks (≤ 3.2 min of audio) read and scored by the voice model at a time
TEXT_CONTEXT_UTTERANCES = 2  # previous utterances given to the text model as context


class StageError(RuntimeError):
    """A recording that cannot be processed; ``stage`` names where, ``str(self)`` says why."""

    def __init__(self, stage: str, reason: str):
        super().__init__(reason)
        self.stage = stage


@contextlib.contextmanager
def stage(name: str):
    """Turn any failure inside a stage into a :class:`StageError` naming the stage."""
    try:
        yield
    except StageError:
        raise
    except media.MediaError as exc:
        raise StageError("split", str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - one bad recording must never stop the batch
        raise StageError(name, f"{type(exc).__name__}: {exc}") from exc


MAX_SAMPLE_FPS = 60.0  # frames per second: more than a video has
TRUNCATION_SLACK_S = 1.0  # seconds a decode may fall short of the declared duration (codec padding, rounding)
TRUNCATION_SHARE = 0.9  # share of the declared duration that must decode on longer recordings


@dataclass(frozen=True)
class PipelineOptions:
    sample_fps: float = media.SAMPLE_FPS
    asr: AsrOptions = field(default_factory=AsrOptions)
    fusion: FusionOptions = field(default_factory=FusionOptions)
    store_transcripts: bool = True
    redact_transcripts: bool = False  # store names, phone numbers and dates as [NAME], [PHONE], [DATE]

    def __post_init__(self) -> None:
        fps = self.sample_fps
        if not isinstance(fps, (int, float)) or not 0 < fps <= MAX_SAMPLE_FPS or fps != fps:
            raise ValueError(f"sample_fps must be above 0 and at most {MAX_SAMPLE_FPS:g} frames per second, "
                             f"got {fps!r}")


def check_decoded_duration(decoded_s: float, declared_s: float) -> None:
    """Refuse a recording whose streams decode to clearly less than its container declares.

    A truncated file, or one still being written, often opens and decodes its first part only;
    loading it would store a short session under the declared duration.

    Raises
    ------
    StageError
        At stage ``split`` when ``declared_s - decoded_s`` exceeds both ``TRUNCATION_SLACK_S``
        and ``(1 - TRUNCATION_SHARE) * declared_s``.
    """
    if declared_s > 0 and declared_s - decoded_s > max(TRUNCATION_SLACK_S, (1 - TRUNCATION_SHARE) * declared_s):
        raise StageError("split", f"truncated or still being written: {decoded_s:.1f} s of the declared "
                                  f"{declared_s:.1f} s could be decoded")


@dataclass(frozen=True)
class Models:
    face: object
    voice: object
    text: object
    asr: AsrOptions

    @property
    def versions(self) -> dict[str, str]:
        return {
            "face": self.face.version,
            "voice": self.voice.version,
            "text": self.text.version,
            "asr": f"{self.asr.backend}:{Path(self.asr.model).name}",
            "pipeline": __version__,
        }


@functools.lru_cache(maxsize=2)
def load_models(asr: AsrOptions = AsrOptions()) -> Models:
    """Load every model once per process: face, voice (with its Whisper encoder), text and ASR."""
    from multimodal_fer.face.model import FaceModel
    from multimodal_fer.text.asr import load_asr_model
    from multimodal_fer.text.emotion import TextEmotionModel
    from multimodal_fer.voice.model import VoiceModel, _whisper_encoder

    models = Models(FaceModel.load(), VoiceModel.load(), TextEmotionModel.load(), asr)
    load_asr_model(asr)  # cached: the first recording does not pay for loading it
    _whisper_encoder()
    _warm_up(models)
    return models


def _warm_up(models: Models) -> None:
    """Run each model once on a tiny synthetic input, so that one-time costs (JIT compilation of
    the prosody functions, ONNX and torch kernel set-up, the VAD model's load) are paid when the
    worker loads its models, not by its first recording."""
    from multimodal_fer.face.features import landmark_features  # noqa: F401 - imported with its dependencies
    from multimodal_fer.voice.vad import speech_segments

    rng = np.random.default_rng(0)
    y = (0.1 * np.sin(2 * np.pi * 150 * np.arange(16000) / 16000) + 0.01 * rng.standard_normal(16000)).astype(np.float32)
    speech_segments(y)
    models.voice.predict_proba([y])
    models.text.predict_proba(["I feel fine today."], [""])
    n_features = len(models.face.feature_names)
    if getattr(models.face, "has_cnn", False):
        models.face.predict_proba(np.zeros((1, n_features)), np.zeros((1, 48, 48), dtype=np.uint8))
    else:
        models.face.predict_proba(np.zeros((1, n_features)))


def pipeline_version(options: PipelineOptions, models: Models) -> str:
    """A short hash of every model version and every setting that changes the rows."""
    payload = json.dumps({"models": models.versions, "options": asdict(options)}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _chunks(segments: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out = []
    for s, e in segments:
        n = max(1, int(np.floor((e - s) / VOICE_CHUNK_S)))
        edges = np.linspace(s, e, n + 1) if (e - s) > VOICE_CHUNK_S else np.array([s, e])
        for a, b in zip(edges[:-1], edges[1:]):
            if b - a >= VOICE_MIN_CHUNK_S or not out:
                out.append((float(a), float(b)))
            else:
                out[-1] = (out[-1][0], float(b))
    return out


@contextlib.contextmanager
def _one_library_thread():
    """One BLAS / OpenMP / torch thread per Python thread while the two paths run side by side.

    The face models (gradient boosting, MLP, CNN) would otherwise each start a thread per core
    and fight the speech recogniser for the same two cores.
    """
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    previous = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=1):
        if torch is not None:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(previous)


def analyze_recording(
    local_path: Path,
    *,
    recording: Recording,
    sha256: str,
    meta: SessionMeta,
    staged_dir: Path,
    options: PipelineOptions = PipelineOptions(),
    models: Models | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Analyse one recording and write its rows as Parquet under ``staged_dir``.

    Returns
    -------
    dict
        ``stage_seconds`` per stage and the ``staged_dir``.

    Raises
    ------
    StageError
        For anything that makes the recording unusable (corrupt file, no stream, failed checks).
    """
    from multimodal_fer.text.asr import transcribe_wav
    from multimodal_fer.text.emotion import vader_valence
    from multimodal_fer.voice.stream import read_clips, voice_activity_prosody

    say = progress or (lambda msg: None)
    models = models or load_models(options.asr)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = round(now - clock, 3)
        clock = now

    try:
        info = media.probe(local_path)
    except media.MediaError as exc:
        raise StageError("split", str(exc)) from exc
    if not info.has_video and not info.has_audio:
        raise StageError("split", "no video and no audio stream")
    lap("probe")

    # Two threads on two cores, one library thread each. The second thread runs the face path
    # (decode, landmarks, face model) and then, once it knows from the lips who speaks, the voice
    # model on the patient's speech; this thread runs the audio path (decode, voice activity,
    # prosody, speech recognition). Both spend their time in native code, so the wall time
    # approaches the slower of the two, not their sum.
    say(f"{recording.patient_id}/{recording.session_id}: face ({info.duration_s:.1f} s at {options.sample_fps:g} fps) "
        f"and voice, concurrently")
    tmp = workspace.temp_dir("audio-")  # reclaimed on the next start if this process is killed
    wav = Path(tmp.name) / "audio.wav"  # written once, then read in blocks and chunks: flat memory
    channels_wav = Path(tmp.name) / "channels.wav" if meta.patient_channel is not None else None
    segments_ready: Future = Future()  # speech segments, handed from the audio path to the face thread

    def face_job():
        t0 = time.perf_counter()
        with stage("face"):
            frames = (run_face(local_path, fps=options.sample_fps, model=models.face, info=info, decode_threads=1)
                      if info.has_video else empty_frames())
        timings["face_concurrent"] = round(time.perf_counter() - t0, 3)
        segments = segments_ready.result()
        t0 = time.perf_counter()
        with stage("voice"):
            if channels_wav is not None:
                attributions, method = attribute_by_channel(channels_wav, segments), "channel"
            else:
                attributions = attribute_segments(frames, segments, has_video=info.has_video)
                method = "lip_sync" if info.has_video else "audio_only"
            chunks = _chunks([(a.start_s, a.end_s) for a in attributions if a.speaker in options.fusion.patient_speakers])
            parts = [np.empty((0, len(EMOTIONS)))]
            for b in range(0, len(chunks), VOICE_BATCH):  # a few minutes of audio in memory at a time
                parts.append(models.voice.predict_proba(read_clips(wav, chunks[b:b + VOICE_BATCH])))
                trim_heap()
            vprobs = np.vstack(parts)
        timings["voice_model_concurrent"] = round(time.perf_counter() - t0, 3)
        return frames, attributions, method, chunks, vprobs

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mfer-face")
    try:
        with _one_library_thread():
            face_future = pool.submit(face_job)
            try:
                with stage("split"):
                    audio_s = (media.extract_audio(local_path, wav, info=info, patient_channel=meta.patient_channel,
                                                   channels_path=channels_wav) if info.has_audio else 0.0)
                lap("split_audio")
                with stage("voice"):
                    segments, prosody, _ = (voice_activity_prosody(wav, window_s=options.fusion.window_s)
                                            if audio_s > 0 else ([], None, 0.0))
            except BaseException as exc:
                segments_ready.set_exception(exc)  # the face thread must not wait for segments forever
                raise
            segments_ready.set_result(segments)
            lap("voice_activity_prosody")
            say(f"{recording.patient_id}/{recording.session_id}: transcript of "
                f"{sum(e - s for s, e in segments):.0f} s of speech")
            with stage("transcript"):
                transcript = transcribe_wav(wav, segments, options.asr, duration_s=audio_s) if segments else None
            lap("transcript")
            frames, attributions, method, patient_chunks, vprobs = face_future.result()
            lap("wait_for_face_and_voice_model")
    finally:
        pool.shutdown(wait=True)
        tmp.cleanup()
    decoded = max(audio_s, float(frames["t_s"].max()) + 1.0 / options.sample_fps if len(frames) else 0.0)
    if decoded <= 0:
        raise StageError("split", "the recording has no frames and no audio samples (empty streams)")
    check_decoded_duration(decoded, info.duration_s)
    duration = max(info.duration_s, decoded)
    voice = pd.DataFrame(vprobs, columns=VOICE_COLS)
    voice.insert(0, "end_s", [e for _, e in patient_chunks])
    voice.insert(0, "start_s", [s for s, _ in patient_chunks])

    utt_rows, word_rows = [], []
    turns = split_by_speaker(transcript.segments, attributions) if transcript is not None else []
    segs = tuple(seg for seg, _, _ in turns)
    texts = [seg.text.strip() for seg in segs]
    contexts = [" ".join(texts[max(0, i - TEXT_CONTEXT_UTTERANCES):i]) for i in range(len(texts))]
    with stage("transcript"):
        tprobs = models.text.predict_proba(texts, contexts) if texts else np.empty((0, len(EMOTIONS)))
        vader = vader_valence(texts) if texts else np.empty(0)
    stored_segs = segs  # what the warehouse keeps: the words as heard, or redacted
    if options.redact_transcripts and transcript is not None:
        from multimodal_fer.text.redact import redact_transcript

        stored_segs = redact_transcript(replace(transcript, segments=segs)).segments
    for i, (seg, stored_seg, (_, speaker, conf)) in enumerate(zip(segs, stored_segs, turns)):
        p = tprobs[i]
        ok = not np.isnan(p).any()
        utt_rows.append({
            "utterance_idx": i, "start_s": max(seg.start_s, 0.0), "end_s": max(seg.end_s, seg.start_s, 0.0),
            "text": stored_seg.text.strip() if options.store_transcripts else None, "n_words": len(seg.words),
            "speaker": speaker, "speaker_confidence": conf, "avg_logprob": min(seg.avg_logprob, 0.0),
            **dict(zip(TEXT_COLS, p)), "text_label": EMOTIONS[int(np.nanargmax(p))] if ok else None,
            "vader_valence": float(vader[i]),
        })
        for w in stored_seg.words:
            word_rows.append({"utterance_idx": i, "word_idx": len(word_rows), "start_s": max(w.start_s, 0.0),
                              "end_s": max(w.end_s, w.start_s, 0.0), "word": w.text.strip(),
                              "probability": float(np.clip(w.probability, 0.0, 1.0))})
    utterances = pd.DataFrame(utt_rows, columns=["utterance_idx", "start_s", "end_s", "text", "n_words", "speaker",
                                                 "speaker_confidence", "avg_logprob", *TEXT_COLS, "text_label", "vader_valence"])
    words = pd.DataFrame(word_rows, columns=["utterance_idx", "word_idx", "start_s", "end_s", "word", "probability"])
    lap("text_model")

    with stage("fusion"):
        windows = fuse(frames, voice, utterances, segments, prosody, duration_s=duration, options=options.fusion)
        summary = summarize(windows, frames, utterances, segments, duration_s=duration)
        patient_words = words[words["utterance_idx"].isin(utterances.loc[utterances["speaker"].isin(options.fusion.patient_speakers),
                                                                          "utterance_idx"])]
        moments = notable_moments(windows, patient_words if options.store_transcripts else words.iloc[0:0])
    lap("fusion_summary")

    version = pipeline_version(options, models)
    session = pd.DataFrame([{
        "patient_id": recording.patient_id, "session_id": recording.session_id, "source_uri": recording.stored_uri,
        "recorded_at": meta.recorded_at, "site": meta.site, "trial_arm": meta.trial_arm, "clinician_id": meta.clinician_id,
        "duration_s": duration, "has_video": info.has_video, "has_audio": info.has_audio,
        "sample_fps": options.sample_fps, "n_frames": len(frames),
        "language": transcript.language if transcript is not None and segs else None,
        "pipeline_version": version, "model_versions": store.model_versions_json(models.versions),
        "processed_at": datetime.now(), "run_id": "staged", "speaker_attribution": method if segments else None,
    }])
    tables = {"sessions": session, "frames": frames, "emotion_windows": windows, "utterances": utterances,
              "words": words if options.store_transcripts else words.iloc[0:0],
              "session_summaries": pd.DataFrame([summary]), "moments": moments}
    staged_dir = Path(staged_dir)
    for name in PER_RECORDING:
        df = tables[name].copy()
        df.insert(0, "recording_sha256", sha256)
        with stage("validate"):
            rows = store.conform(name, df)
            report = quality.check_frame(name, rows.to_pandas())
        if not report.success:
            raise StageError("validate", f"{name} failed data-quality checks: " + "; ".join(report.failures))
        with stage("validate"):
            store.write_staged(staged_dir, name, rows)
    lap("validate_write")
    return {"staged_dir": str(staged_dir), "stage_seconds": timings, "pipeline_version": version}
