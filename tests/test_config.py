"""The one configuration surface: ``Settings.from_env``, ``PipelineOptions`` built once by the CLI and
passed to the flow as one parameter (never a secret), deployments giving it as a mapping."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest
import yaml

from multimodal_fer.config import AUDIO_SR, SAMPLE_FPS, Settings
from multimodal_fer.fusion import FusionOptions
from multimodal_fer.pipeline import PipelineOptions
from multimodal_fer.text.asr import AsrOptions

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_settings_from_env_reads_every_mfer_variable_and_hides_the_key():
    s = Settings.from_env(
        {"MFER_DB": "w.duckdb", "MFER_PSEUDONYM_KEY": "secret", "MFER_CACHE": "/c", "MFER_SHARED_DATA": "/d"}
    )
    assert (s.db, s.pseudonym_key, str(s.cache), str(s.shared_data)) == ("w.duckdb", "secret", "/c", "/d")
    assert "secret" not in repr(s)
    assert Settings.from_env({}) == Settings() and Settings.from_env({}).checked_pseudonym_key() is None


def test_defaults_are_defined_once():
    from multimodal_fer import media
    from multimodal_fer.text import asr
    from multimodal_fer.voice import prosody

    assert media.SAMPLE_FPS == PipelineOptions().sample_fps == SAMPLE_FPS == 5.0
    assert media.AUDIO_SR == asr.SAMPLE_RATE == prosody.SR == AUDIO_SR == 16_000


def _args(*extra: str):
    from multimodal_fer.cli import build_parser
    from multimodal_fer_flows.cli import flow_commands

    return build_parser(flow_commands).parse_args(["run", "bucket", "--db", "w.duckdb", *extra])


def test_the_cli_builds_one_options_parameter_and_no_secret(monkeypatch):
    from multimodal_fer_flows.cli import flow_parameters

    monkeypatch.setenv("MFER_PSEUDONYM_KEY", "do-not-store-me")
    params = flow_parameters(_args())
    assert params["options"] == PipelineOptions()  # defaults: the pipeline version does not change
    assert "do-not-store-me" not in repr(params)
    params = flow_parameters(
        _args("--fps", "2", "--asr-model", "tiny.en", "--face-weight-speaking", "0.5", "--window-s", "2", "--redact")
    )
    assert params["options"] == PipelineOptions(
        sample_fps=2.0,
        asr=AsrOptions(model="tiny.en"),
        fusion=FusionOptions(face_weight_speaking=0.5, window_s=2.0),
        redact_transcripts=True,
    )
    from multimodal_fer_flows.process_bucket import process_bucket

    assert set(params) <= set(inspect.signature(process_bucket.fn).parameters)


def test_deployments_give_the_options_as_a_mapping():
    from multimodal_fer_flows.process_bucket import process_bucket

    spec = yaml.safe_load(Path(REPO, "prefect.yaml").read_text())
    fast = next(d for d in spec["deployments"] if d["name"] == "hourly-fast")
    validated = process_bucket.validate_parameters({**fast["parameters"], "bucket": "b", "db": "f.duckdb"})
    assert validated["options"] == PipelineOptions(sample_fps=2.0, asr=AsrOptions(model="tiny.en"))
    nightly = next(d for d in spec["deployments"] if d["name"] == "nightly")
    validated = process_bucket.validate_parameters({**nightly["parameters"], "bucket": "b", "db": "w.duckdb"})
    assert validated["options"] == PipelineOptions()


@pytest.mark.parametrize("value, message", [("", "set but empty"), ("  ", "set but empty"),
                                            ("k\udcff\udcfe", "not UTF-8 text")])
def test_an_empty_or_unreadable_pseudonym_key_is_an_error_not_no_key(value, message):
    with pytest.raises(ValueError, match=message) as err:
        Settings.from_env({"MFER_PSEUDONYM_KEY": value}).checked_pseudonym_key()
    assert "\n" not in str(err.value)
    assert Settings.from_env({"MFER_PSEUDONYM_KEY": " k "}).checked_pseudonym_key() == " k "  # a key as given
