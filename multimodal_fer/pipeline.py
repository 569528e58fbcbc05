"""Analyse one recording: split → face, voice, transcript → who speaks → fusion → summary → staged Parquet.

:func:`analyze_recording` is four steps, each a function of its own: :func:`extract_streams` (the
face, voice and text streams, each a typed result of its stream module) → :func:`fuse_streams`
→ :func:`summarise` → :func:`stage_tables`. Plain Python (no Prefect). Models are loaded once per
process (:func:`~multimodal_fer.models.load_models`, re-exported here with the other names of
:mod:`multimodal_fer.models`) and reused across recordings. Every failure is raised as a
:class:`StageError` naming the stage and a reason a person can read; the flow quarantines the
recording and goes on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from multimodal_fer import media, quality, store, workspace
from multimodal_fer.bucket import Recording, SessionMeta
from multimodal_fer.env import one_library_thread
from multimodal_fer.face.stream import FaceStream, face_stream
from multimodal_fer.fusion import FusionInputs, FusionOptions
from multimodal_fer.models import (  # noqa: F401 - re-exported: where the flows and tests import them from
    Models,
    artefact_versions,
    load_models,
    pipeline_version,
    version_of,
)
from multimodal_fer.summary import notable_moments, summarize
from multimodal_fer.text.asr import AsrOptions
from multimodal_fer.text.stream import TextStream, text_stream
from multimodal_fer.timing import Clock
from multimodal_fer.voice.stream import VoiceStream, score_patient_speech, voice_activity_prosody
from multimodal_fer_schemas.tables import PER_RECORDING


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
            raise ValueError(
                f"sample_fps must be above 0 and at most {MAX_SAMPLE_FPS:g} frames per second, got {fps!r}"
            )


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
        raise StageError(
            "split",
            f"truncated or still being written: {decoded_s:.1f} s of the declared {declared_s:.1f} s could be decoded",
        )


@dataclass(frozen=True)
class Streams:
    """The three streams of one recording, on one clock (seconds from the start).

    Attributes
    ----------
    info : MediaInfo
        The recording's probe.
    face, voice, text : FaceStream, VoiceStream, TextStream
        Each stream module's result.
    duration_s : float
        Session length, s: the declared duration, or what decoded when longer.
    """

    info: media.MediaInfo
    face: FaceStream
    voice: VoiceStream
    text: TextStream
    duration_s: float

    def fusion_inputs(self, options: FusionOptions) -> FusionInputs:
        """What :func:`~multimodal_fer.fusion.fuse` reads of these streams."""
        return FusionInputs(
            self.face.frames,
            self.voice.probabilities,
            self.text.utterances,
            list(self.voice.segments),
            self.voice.prosody,
            float(self.duration_s),
            options,
        )


def _video_span(times_s, declared_s: float, fps: float) -> float:
    """Seconds of video decoded: the last sampled frame plus one sampling interval, never past the duration
    the container declares (a 0.2 s clip sampled at 1 fps lasts 0.2 s, not 1 s); 0 without frames."""
    if not len(times_s):
        return 0.0
    last = float(max(times_s))
    return min(last + 1.0 / fps, declared_s) if declared_s > last else last + 1.0 / fps


def _probe(local_path: Path) -> media.MediaInfo:
    """The recording's streams; a :class:`StageError` at ``split`` when it has none or cannot be read."""
    try:
        info = media.probe(local_path)
    except media.MediaError as exc:
        raise StageError("split", str(exc)) from exc
    if not info.has_video and not info.has_audio:
        raise StageError("split", "no video and no audio stream")
    return info


def _audio_path(
    local_path: Path,
    info: media.MediaInfo,
    meta: SessionMeta,
    options: PipelineOptions,
    wav: Path,
    channels_wav: Path | None,
    handoff: Future,
    clock: Clock,
    say: Callable[[str], None],
):
    """Decode, voice activity and prosody (handed to the face thread through ``handoff``), then the
    transcript; returns ``(transcript or None, audio seconds)``."""
    from multimodal_fer.text.asr import transcribe_wav

    try:
        with stage("split"):
            audio_s = (
                media.extract_audio(
                    local_path, wav, info=info, patient_channel=meta.patient_channel, channels_path=channels_wav
                )
                if info.has_audio
                else 0.0
            )
        clock.lap("split_audio")
        with stage("voice"):
            segments, prosody, _ = (
                voice_activity_prosody(wav, window_s=options.fusion.window_s) if audio_s > 0 else ([], None, 0.0)
            )
    except BaseException as exc:
        handoff.set_exception(exc)  # the face thread must not wait for segments forever
        raise
    handoff.set_result((segments, prosody))
    clock.lap("voice_activity_prosody")
    say(f"transcript of {sum(e - s for s, e in segments):.0f} s of speech")
    with stage("transcript"):
        transcript = transcribe_wav(wav, segments, options.asr, duration_s=audio_s) if segments else None
    clock.lap("transcript")
    return transcript, audio_s


def _face_and_audio(
    local_path: Path,
    info: media.MediaInfo,
    meta: SessionMeta,
    options: PipelineOptions,
    models: Models,
    clock: Clock,
    say: Callable[[str], None],
):
    """The face and voice streams and the transcript, on two threads; ``(face, voice, transcript, audio_s)``."""
    # Two threads on two cores, one library thread each. The second thread runs the face path
    # (decode, landmarks, face model) and then, once it knows from the lips who speaks, the voice
    # model on the patient's speech; this thread runs the audio path (decode, voice activity,
    # prosody, speech recognition). Both spend their time in native code, so the wall time
    # approaches the slower of the two, not their sum.
    with workspace.temp_dir("audio-") as tmp:  # reclaimed on the next start if this process is killed
        wav = Path(tmp) / "audio.wav"  # written once, then read in blocks and chunks: flat memory
        channels_wav = Path(tmp) / "channels.wav" if meta.patient_channel is not None else None
        handoff: Future = Future()  # (speech segments, prosody), from the audio path to the face thread

        def face_job() -> tuple[FaceStream, VoiceStream]:
            with clock.concurrent("face_concurrent"), stage("face"):
                face = face_stream(local_path, fps=options.sample_fps, model=models.face, info=info, decode_threads=1)
            segments, prosody = handoff.result()
            with clock.concurrent("voice_model_concurrent"), stage("voice"):
                voice = score_patient_speech(
                    wav,
                    segments=segments,
                    prosody=prosody,
                    frames=face.frames,
                    has_video=info.has_video,
                    channels_wav=channels_wav,
                    patient_speakers=options.fusion.patient_speakers,
                    model=models.voice,
                )
            return face, voice

        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mfer-face")
        try:
            with one_library_thread():
                face_future = pool.submit(face_job)
                transcript, audio_s = _audio_path(
                    local_path, info, meta, options, wav, channels_wav, handoff, clock, say
                )
                face, voice = face_future.result()
                clock.lap("wait_for_face_and_voice_model")
        finally:
            pool.shutdown(wait=True)
    return face, voice, transcript, audio_s


def extract_streams(
    local_path: Path,
    *,
    meta: SessionMeta,
    options: PipelineOptions,
    models: Models,
    clock: Clock | None = None,
    say: Callable[[str], None] | None = None,
) -> Streams:
    """Probe a recording and extract its face, voice and text streams.

    Raises
    ------
    StageError
        At ``split`` for an unreadable, empty or truncated recording (:func:`check_decoded_duration`),
        at ``face``, ``voice`` or ``transcript`` when a stream fails.
    """
    clock = clock or Clock()
    say = say or (lambda msg: None)
    info = _probe(local_path)
    clock.lap("probe")
    say(f"face ({info.duration_s:.1f} s at {options.sample_fps:g} fps) and voice, concurrently")
    face, voice, transcript, audio_s = _face_and_audio(local_path, info, meta, options, models, clock, say)
    frames = face.frames
    decoded = max(audio_s, _video_span(frames["t_s"], info.duration_s, options.sample_fps))
    if decoded <= 0:
        raise StageError("split", "the recording has no frames and no audio samples (empty streams)")
    check_decoded_duration(decoded, info.duration_s)
    with stage("transcript"):
        text = text_stream(
            transcript,
            voice.attributions,
            models.text,
            store_transcripts=options.store_transcripts,
            redact=options.redact_transcripts,
        )
    clock.lap("text_model")
    return Streams(info, face, voice, text, max(info.duration_s, decoded))


def fuse_streams(streams: Streams, options: FusionOptions) -> pd.DataFrame:
    """The ``emotion_windows`` rows (without ``recording_sha256``) of the streams, one per window."""
    return streams.fusion_inputs(options).fuse()


def summarise(streams: Streams, windows: pd.DataFrame, options: FusionOptions) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``session_summaries`` row and the ``moments`` rows (without ``recording_sha256``).

    A moment's words are the patient's (``options.patient_speakers``); none when transcripts are not stored.
    """
    utterances, words = streams.text.utterances, streams.text.words
    summary = summarize(windows, streams.face.frames, utterances, streams.voice.segments, duration_s=streams.duration_s)
    patient_utterances = utterances.loc[utterances["speaker"].isin(options.patient_speakers), "utterance_idx"]
    moments = notable_moments(windows, words[words["utterance_idx"].isin(patient_utterances)])
    return pd.DataFrame([summary]), moments


def session_row(
    recording: Recording, meta: SessionMeta, streams: Streams, options: PipelineOptions, models: Models, version: str
) -> pd.DataFrame:
    """The ``sessions`` row (without ``recording_sha256``); ``run_id`` is set when it is loaded."""
    return pd.DataFrame(
        [
            {
                "patient_id": recording.patient_id,
                "session_id": recording.session_id,
                "source_uri": recording.stored_uri,
                "recorded_at": meta.recorded_at,
                "site": meta.site,
                "trial_arm": meta.trial_arm,
                "clinician_id": meta.clinician_id,
                "duration_s": streams.duration_s,
                "has_video": streams.info.has_video,
                "has_audio": streams.info.has_audio,
                "sample_fps": options.sample_fps,
                "n_frames": len(streams.face.frames),
                "language": streams.text.language,
                "pipeline_version": version,
                "model_versions": store.model_versions_json(models.versions),
                "processed_at": datetime.now(),
                "run_id": "staged",
                "speaker_attribution": streams.voice.method if streams.voice.segments else None,
            }
        ]
    )


def stage_tables(tables: dict[str, pd.DataFrame], sha256: str, staged_dir: Path) -> None:
    """Conform, check and write each of :data:`~schemas.tables.PER_RECORDING` as Parquet under ``staged_dir``.

    Raises
    ------
    StageError
        At ``validate`` when a table does not conform or fails its data-quality checks.
    """
    for name in PER_RECORDING:
        df = tables[name].copy()
        df.insert(0, "recording_sha256", sha256)
        with stage("validate"):
            rows = store.conform(name, df)
            report = quality.check_frame(name, rows.to_pandas())
        if not report.success:
            raise StageError("validate", f"{name} failed data-quality checks: " + "; ".join(report.failures))
        with stage("validate"):
            store.write_staged(Path(staged_dir), name, rows)


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
    """Analyse one recording and write its rows as Parquet under ``staged_dir``:
    :func:`extract_streams` → :func:`fuse_streams` → :func:`summarise` → :func:`stage_tables`.

    Returns
    -------
    dict
        ``staged_dir``, ``stage_seconds`` (seconds per stage) and ``pipeline_version``.

    Raises
    ------
    StageError
        For anything that makes the recording unusable (corrupt file, no stream, failed checks).
    """
    models = models or load_models(options.asr)
    clock = Clock()
    say = (lambda msg: progress(f"{recording.patient_id}/{recording.session_id}: {msg}")) if progress else None
    streams = extract_streams(local_path, meta=meta, options=options, models=models, clock=clock, say=say)
    with stage("fusion"):
        windows = fuse_streams(streams, options.fusion)
        summary, moments = summarise(streams, windows, options.fusion)
    clock.lap("fusion_summary")
    version = pipeline_version(options, models)
    tables = {
        "sessions": session_row(recording, meta, streams, options, models, version),
        "frames": streams.face.frames,
        "emotion_windows": windows,
        "utterances": streams.text.utterances,
        "words": streams.text.words,
        "session_summaries": summary,
        "moments": moments,
    }
    stage_tables(tables, sha256, staged_dir)
    clock.lap("validate_write")
    return {"staged_dir": str(staged_dir), "stage_seconds": clock.timings, "pipeline_version": version}
