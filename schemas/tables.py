"""Table definitions: column-name constants that are the schema (py-feat style).

Every column has a DuckDB type, a nullability, a description (rendered into docs/tables.md) and,
where it has one, a valid range or a set of allowed values (turned into data-quality expectations).
Probability columns come in blocks of seven, one per canonical emotion, in
:data:`schemas.labels.EMOTIONS` order (re-exported as ``multimodal_fer.labels.EMOTIONS``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from multimodal_fer_schemas.labels import EMOTIONS

PIPELINE_SCHEMA_VERSION = 2  # bump when a table changes shape


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type: VARCHAR, DOUBLE, INTEGER, BIGINT, BOOLEAN, TIMESTAMP
    description: str
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    allowed: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    #: groups of probability columns whose row sums must be 1 (or all NULL)
    probability_groups: tuple[tuple[str, ...], ...] = field(default=())

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


def _probs(prefix: str, what: str, *, nullable: bool = True) -> tuple[Column, ...]:
    return tuple(
        Column(
            f"{prefix}_{e}", "DOUBLE", f"{what}: probability of expressed '{e}'", nullable=nullable, min=0.0, max=1.0
        )
        for e in EMOTIONS
    )


def _names(cols: tuple[Column, ...]) -> tuple[str, ...]:
    return tuple(c.name for c in cols)


SHA = Column("recording_sha256", "VARCHAR", "SHA-256 of the recording's bytes: its identity", nullable=False)
EMOTION_OR_NULL = tuple(EMOTIONS)
SPEAKERS = ("patient", "other", "unknown")

PATIENTS = Table(
    "patients",
    "One row per patient seen in any bucket.",
    (
        Column("patient_id", "VARCHAR", "Patient id: the bucket folder name (or its keyed pseudonym)", nullable=False),
        Column("site", "VARCHAR", "Site from the manifest of the patient's latest session"),
        Column("trial_arm", "VARCHAR", "Trial arm from the manifest of the patient's latest session"),
        Column("first_loaded_at", "TIMESTAMP", "When the patient's first session was loaded", nullable=False),
    ),
    ("patient_id",),
)

SESSIONS = Table(
    "sessions",
    "One row per processed recording (a telehealth session).",
    (
        SHA,
        Column("patient_id", "VARCHAR", "Patient id (bucket folder)", nullable=False),
        Column("session_id", "VARCHAR", "Session id (file name without extension)", nullable=False),
        Column("source_uri", "VARCHAR", "Where the recording was read from", nullable=False),
        Column("recorded_at", "TIMESTAMP", "When the session was recorded (manifest); NULL if not given"),
        Column("site", "VARCHAR", "Site (manifest)"),
        Column("trial_arm", "VARCHAR", "Trial arm (manifest)"),
        Column("clinician_id", "VARCHAR", "Clinician id (manifest)"),
        Column("duration_s", "DOUBLE", "Length of the recording in seconds", nullable=False, min=0.0),
        Column("has_video", "BOOLEAN", "The recording has a video stream", nullable=False),
        Column("has_audio", "BOOLEAN", "The recording has an audio stream", nullable=False),
        Column("sample_fps", "DOUBLE", "Frames per second sampled for the face stream", nullable=False, min=0.0),
        Column("n_frames", "INTEGER", "Number of sampled frames", nullable=False, min=0),
        Column("language", "VARCHAR", "Language detected in the speech (NULL when no speech)"),
        Column(
            "pipeline_version",
            "VARCHAR",
            "Hash of the model versions and settings that made these rows",
            nullable=False,
        ),
        Column("model_versions", "VARCHAR", "JSON: the version of every model used", nullable=False),
        Column("processed_at", "TIMESTAMP", "When the analysis finished", nullable=False),
        Column("run_id", "VARCHAR", "The run that loaded this session", nullable=False),
        Column(
            "speaker_attribution",
            "VARCHAR",
            "How speech was attributed to the patient: lip_sync (the patient's "
            "lip motion during the speech), channel (level on the manifest's patient audio channel), audio_only (no "
            "video: all speech counts as the patient's); NULL when there is no speech",
            allowed=("lip_sync", "channel", "audio_only"),
        ),
    ),
    ("recording_sha256",),
)

FRAMES = Table(
    "frames",
    "Face stream: one row per sampled video frame.",
    (
        SHA,
        Column("t_s", "DOUBLE", "Time of the frame on the session clock, seconds", nullable=False, min=0.0),
        Column("face_found", "BOOLEAN", "The patient's face was found", nullable=False),
        Column("n_faces", "INTEGER", "Number of faces visible", nullable=False, min=0),
        *_probs("p_face", "Face model, calibrated per session (docs/face.md; what fusion uses)"),
        *_probs("p_face_raw", "Face model before the per-session calibration"),
        Column(
            "face_label", "VARCHAR", "Most probable expressed emotion of the face (calibrated)", allowed=EMOTION_OR_NULL
        ),
        Column("face_confidence", "DOUBLE", "Calibrated probability of face_label", min=0.0, max=1.0),
        Column("mouth_open", "DOUBLE", "Inner-lip gap / inter-ocular distance (unitless)", min=0.0),
        Column("yaw_deg", "DOUBLE", "Head yaw, degrees", min=-180.0, max=180.0),
        Column("pitch_deg", "DOUBLE", "Head pitch, degrees", min=-180.0, max=180.0),
        Column("roll_deg", "DOUBLE", "Head roll, degrees", min=-180.0, max=180.0),
    ),
    ("recording_sha256", "t_s"),
    (_names(_probs("p_face", "")), _names(_probs("p_face_raw", ""))),
)

_WINDOW_PROBS = (
    _probs("p_face", "Face stream, mean over the window's frames"),
    _probs("p_voice", "Voice (prosody) stream over the window's speech"),
    _probs("p_text", "Text stream of the words spoken in the window"),
    _probs("p_fused", "Fused expressed emotion"),
)

WINDOWS = Table(
    "emotion_windows",
    "Fused time series: one row per window (default 1 s) of the session clock.",
    (
        SHA,
        Column("window_start_s", "DOUBLE", "Window start, seconds", nullable=False, min=0.0),
        Column("window_end_s", "DOUBLE", "Window end, seconds", nullable=False, min=0.0),
        Column(
            "face_present",
            "DOUBLE",
            "Share of the window's sampled frames with the patient's face",
            nullable=False,
            min=0.0,
            max=1.0,
        ),
        Column(
            "speech_ratio",
            "DOUBLE",
            "Share of the window with voice activity (anyone)",
            nullable=False,
            min=0.0,
            max=1.0,
        ),
        Column("patient_speaking", "BOOLEAN", "The patient speaks in this window (attributed speech)", nullable=False),
        Column("mouth_open_mean", "DOUBLE", "Mean mouth opening over the window", min=0.0),
        Column("f0_mean_hz", "DOUBLE", "Mean F0 of voiced frames, Hz", min=0.0),
        Column("rms_mean_db", "DOUBLE", "Mean frame energy, dB"),
        *[c for block in _WINDOW_PROBS for c in block],
        Column("w_face", "DOUBLE", "Weight of the face stream in p_fused", nullable=False, min=0.0, max=1.0),
        Column("w_voice", "DOUBLE", "Weight of the voice stream in p_fused", nullable=False, min=0.0, max=1.0),
        Column("w_text", "DOUBLE", "Weight of the text stream in p_fused", nullable=False, min=0.0, max=1.0),
        Column(
            "signal",
            "VARCHAR",
            "Which streams carried signal: none (no face and no patient speech; fused columns "
            "NULL), face, speech, face+speech",
            nullable=False,
            allowed=("none", "face", "speech", "face+speech"),
        ),
        Column(
            "fused_label",
            "VARCHAR",
            "Most probable fused expressed emotion (NULL when signal='none')",
            allowed=EMOTION_OR_NULL,
        ),
        Column("fused_confidence", "DOUBLE", "Probability of fused_label", min=0.0, max=1.0),
        Column("valence", "DOUBLE", "Expected valence of p_fused on [-1, 1]", min=-1.0, max=1.0),
        Column("arousal", "DOUBLE", "Expected arousal of p_fused on [-1, 1]", min=-1.0, max=1.0),
    ),
    ("recording_sha256", "window_start_s"),
    tuple(_names(b) for b in _WINDOW_PROBS),
)

UTTERANCES = Table(
    "utterances",
    "Transcript stream: one row per utterance (a recognised segment, cut where the speaker changes).",
    (
        SHA,
        Column("utterance_idx", "INTEGER", "Order of the utterance in the session", nullable=False, min=0),
        Column("start_s", "DOUBLE", "Start, seconds", nullable=False, min=0.0),
        Column("end_s", "DOUBLE", "End, seconds", nullable=False, min=0.0),
        Column("text", "VARCHAR", "Recognised words (NULL when transcripts are not stored)"),
        Column("n_words", "INTEGER", "Number of words", nullable=False, min=0),
        Column("speaker", "VARCHAR", "Who spoke: patient, other, unknown", nullable=False, allowed=SPEAKERS),
        Column(
            "speaker_confidence", "DOUBLE", "Confidence of the speaker attribution", nullable=False, min=0.0, max=1.0
        ),
        Column("avg_logprob", "DOUBLE", "Recogniser's mean log-probability of the tokens", max=0.0),
        *_probs("p_text", "Text model"),
        Column("text_label", "VARCHAR", "Most probable expressed emotion of the words", allowed=EMOTION_OR_NULL),
        Column("vader_valence", "DOUBLE", "VADER compound valence of the words", min=-1.0, max=1.0),
    ),
    ("recording_sha256", "utterance_idx"),
    (_names(_probs("p_text", "")),),
)

WORDS = Table(
    "words",
    "Words with times from the recogniser (omitted when transcripts are not stored).",
    (
        SHA,
        Column("utterance_idx", "INTEGER", "Utterance the word belongs to", nullable=False, min=0),
        Column("word_idx", "INTEGER", "Order of the word in the session", nullable=False, min=0),
        Column("start_s", "DOUBLE", "Start, seconds", nullable=False, min=0.0),
        Column("end_s", "DOUBLE", "End, seconds", nullable=False, min=0.0),
        Column("word", "VARCHAR", "The word", nullable=False),
        Column("probability", "DOUBLE", "Recogniser's probability of the word", nullable=False, min=0.0, max=1.0),
    ),
    ("recording_sha256", "word_idx"),
)

SUMMARIES = Table(
    "session_summaries",
    "Per-session summary of the patient's expressed emotion (windows with signal only).",
    (
        SHA,
        *(
            Column(f"share_{e}", "DOUBLE", f"Share of windows with signal whose fused label is '{e}'", min=0.0, max=1.0)
            for e in EMOTIONS
        ),
        Column("dominant_emotion", "VARCHAR", "Most frequent fused label", allowed=EMOTION_OR_NULL),
        Column("valence_mean", "DOUBLE", "Mean valence over windows with signal", min=-1.0, max=1.0),
        Column("valence_std", "DOUBLE", "Standard deviation of valence", min=0.0),
        Column("arousal_mean", "DOUBLE", "Mean arousal over windows with signal", min=-1.0, max=1.0),
        Column("arousal_std", "DOUBLE", "Standard deviation of arousal", min=0.0),
        Column(
            "expressivity_mean",
            "DOUBLE",
            "Mean facial expressivity: 1 - p(neutral) of the face stream",
            min=0.0,
            max=1.0,
        ),
        Column("speaking_time_s", "DOUBLE", "Seconds the patient speaks", nullable=False, min=0.0),
        Column("speech_time_s", "DOUBLE", "Seconds anyone speaks (voice activity)", nullable=False, min=0.0),
        Column("n_turns", "INTEGER", "Number of patient utterances", nullable=False, min=0),
        Column("pause_count", "INTEGER", "Pauses >= 0.3 s between speech segments", nullable=False, min=0),
        Column("pause_mean_s", "DOUBLE", "Mean pause length, seconds", min=0.0),
        Column("speech_rate_wps", "DOUBLE", "Patient words per second of patient speech", min=0.0),
        Column("f0_mean_hz", "DOUBLE", "Mean F0 of voiced speech, Hz", min=0.0),
        Column("f0_std_hz", "DOUBLE", "F0 variability (std of window means), Hz", min=0.0),
        Column(
            "face_coverage",
            "DOUBLE",
            "Share of sampled frames with the patient's face",
            nullable=False,
            min=0.0,
            max=1.0,
        ),
        Column(
            "speech_coverage", "DOUBLE", "Share of the session with voice activity", nullable=False, min=0.0, max=1.0
        ),
        Column("n_windows", "INTEGER", "Number of windows", nullable=False, min=0),
        Column("n_windows_signal", "INTEGER", "Windows with face or patient speech", nullable=False, min=0),
    ),
    ("recording_sha256",),
)

MOMENTS = Table(
    "moments",
    "Notable moments: the strongest negative and positive expression of a session, with the words spoken then.",
    (
        SHA,
        Column("kind", "VARCHAR", "negative or positive", nullable=False, allowed=("negative", "positive")),
        Column("rank", "INTEGER", "1 = strongest", nullable=False, min=1),
        Column("start_s", "DOUBLE", "Start, seconds", nullable=False, min=0.0),
        Column("end_s", "DOUBLE", "End, seconds", nullable=False, min=0.0),
        Column("valence", "DOUBLE", "Mean valence over the moment", nullable=False, min=-1.0, max=1.0),
        Column("label", "VARCHAR", "Fused label at the moment", nullable=False, allowed=EMOTION_OR_NULL),
        Column("words", "VARCHAR", "Words the patient spoke during the moment (NULL when none or not stored)"),
    ),
    ("recording_sha256", "kind", "rank"),
)

QUARANTINE = Table(
    "quarantine",
    "Recordings that could not be processed, with the reason; the batch goes on without them.",
    (
        Column("source_uri", "VARCHAR", "Where the recording was read from", nullable=False),
        Column("recording_sha256", "VARCHAR", "SHA-256 of the bytes (NULL when unreadable)"),
        Column("patient_id", "VARCHAR", "Patient id, when the path gave a valid one"),
        Column("session_id", "VARCHAR", "Session id, when the path gave a valid one"),
        Column(
            "stage",
            "VARCHAR",
            "Where it failed",
            nullable=False,
            allowed=("discover", "plan", "split", "face", "voice", "transcript", "fusion", "validate", "load"),
        ),
        Column("reason", "VARCHAR", "What went wrong, for a person", nullable=False),
        Column("error_type", "VARCHAR", "Exception class", nullable=False),
        Column("pipeline_version", "VARCHAR", "Pipeline version that tried", nullable=False),
        Column("quarantined_at", "TIMESTAMP", "When", nullable=False),
        Column("run_id", "VARCHAR", "The run that quarantined it", nullable=False),
    ),
    ("source_uri", "pipeline_version"),
)

RUNS = Table(
    "runs",
    "One row per bucket run: what it found and what it did.",
    (
        Column("run_id", "VARCHAR", "Run id", nullable=False),
        Column("bucket", "VARCHAR", "Bucket URL or folder", nullable=False),
        Column("started_at", "TIMESTAMP", "Start", nullable=False),
        Column("finished_at", "TIMESTAMP", "End", nullable=False),
        Column("n_discovered", "INTEGER", "Recordings found in the bucket", nullable=False, min=0),
        Column(
            "n_skipped",
            "INTEGER",
            "Already loaded by this pipeline version, or already quarantined",
            nullable=False,
            min=0,
        ),
        Column("n_loaded", "INTEGER", "Sessions loaded", nullable=False, min=0),
        Column("n_quarantined", "INTEGER", "Recordings quarantined in this run", nullable=False, min=0),
        Column("pipeline_version", "VARCHAR", "Pipeline version", nullable=False),
    ),
    ("run_id",),
)

AUDIT = Table(
    "audit",
    "Who and what processed which recording, with which model versions, and who exported what (append-only).",
    (
        Column("event_id", "VARCHAR", "Unique id of the event", nullable=False),
        Column("at", "TIMESTAMP", "When", nullable=False),
        Column(
            "action",
            "VARCHAR",
            "What happened: a recording was loaded, quarantined or rehomed (moved to another "
            "patient or session folder: its rows now carry the new ids), a loaded session took the "
            "corrected metadata of its manifest row (updated), or rows were exported (`mfer export`)",
            nullable=False,
            allowed=("loaded", "quarantined", "rehomed", "updated", "exported"),
        ),
        Column("recording_sha256", "VARCHAR", "SHA-256 of the recording (NULL when unreadable, and for exports)"),
        Column(
            "source_uri",
            "VARCHAR",
            "Where it was read from (pseudonymised when ids are); for an export what "
            "was exported: table:NAME, view:NAME or query:SQL",
            nullable=False,
        ),
        Column("run_id", "VARCHAR", "The run (export-… for an export)", nullable=False),
        Column("os_user", "VARCHAR", "Operating-system user that ran the flow or the export", nullable=False),
        Column("host", "VARCHAR", "Machine that ran the flow or the export", nullable=False),
        Column(
            "pipeline_version", "VARCHAR", "Pipeline version (for an export: mfer-<package version>)", nullable=False
        ),
        Column("model_versions", "VARCHAR", "JSON: the version of every model ({} for an export)", nullable=False),
        Column("target_uri", "VARCHAR", "Export: the file or folder written (NULL for other actions)"),
        Column("n_rows", "BIGINT", "Export: the number of rows written (NULL for other actions)", min=0),
    ),
    ("event_id",),
)

OBJECTS = Table(
    "objects",
    "Every recording object seen in a bucket, with the size and modification stamp it had when its bytes were "
    "hashed: an object whose size and stamp are unchanged is not read again.",
    (
        Column("source_uri", "VARCHAR", "Where the object is (pseudonymised when ids are)", nullable=False),
        Column("size_bytes", "BIGINT", "Size when hashed, bytes", nullable=False, min=0),
        Column(
            "modified",
            "VARCHAR",
            "Modification stamp when hashed: mtime in ns (folder), ETag (object store)",
            nullable=False,
        ),
        Column("recording_sha256", "VARCHAR", "SHA-256 of its bytes", nullable=False),
        Column("hashed_at", "TIMESTAMP", "When its bytes were read", nullable=False),
        Column("run_id", "VARCHAR", "The run that read them", nullable=False),
    ),
    ("source_uri",),
)

SETTINGS = Table(
    "settings",
    "Facts about the warehouse itself that every run must agree with (e.g. the pseudonym key's fingerprint).",
    (
        Column("name", "VARCHAR", "Setting", nullable=False, allowed=("pseudonym_key_fingerprint",)),
        Column("value", "VARCHAR", "Value ('none': ids are stored as they are in the bucket)", nullable=False),
        Column("set_at", "TIMESTAMP", "When it was first recorded", nullable=False),
    ),
    ("name",),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        PATIENTS,
        SESSIONS,
        FRAMES,
        WINDOWS,
        UTTERANCES,
        WORDS,
        SUMMARIES,
        MOMENTS,
        QUARANTINE,
        RUNS,
        AUDIT,
        OBJECTS,
        SETTINGS,
    )
}

#: Tables a worker writes as Parquet for each recording (the loader reads them).
PER_RECORDING = ("sessions", "frames", "emotion_windows", "utterances", "words", "session_summaries", "moments")


def table(name: str) -> Table:
    return TABLES[name]


def row_columns(name: str) -> tuple[str, ...]:
    """The columns a producer writes for one recording: the table's columns without ``recording_sha256``."""
    return tuple(c for c in TABLES[name].column_names if c != SHA.name)


#: Probability columns of each stream, in :data:`multimodal_fer.labels.EMOTIONS` order.
FACE_PROB_COLS: tuple[str, ...] = _names(_WINDOW_PROBS[0])
#: The ``frames`` table's face probabilities before the per-session calibration (``FACE_PROB_COLS``: after).
FACE_RAW_PROB_COLS: tuple[str, ...] = _names(_probs("p_face_raw", ""))
VOICE_PROB_COLS: tuple[str, ...] = _names(_WINDOW_PROBS[1])
TEXT_PROB_COLS: tuple[str, ...] = _names(_WINDOW_PROBS[2])
FUSED_PROB_COLS: tuple[str, ...] = _names(_WINDOW_PROBS[3])
