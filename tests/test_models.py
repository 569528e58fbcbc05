"""Model versions from the artefact files (no model built) equal the loaded models' versions."""

from __future__ import annotations

import shutil

import pytest

from multimodal_fer.models import artefact_versions, load_models, pipeline_version, version_of
from multimodal_fer.pipeline import PipelineOptions
from multimodal_fer.text.asr import AsrOptions


def test_artefact_versions_build_no_model(monkeypatch):
    import joblib

    from multimodal_fer.face.model import FaceModel
    from multimodal_fer.text.emotion import TextEmotionModel
    from multimodal_fer.voice.model import VoiceModel

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded")

    for owner, name in ((FaceModel, "load"), (VoiceModel, "load"), (TextEmotionModel, "load"), (joblib, "load")):
        monkeypatch.setattr(owner, name, refuse)
    versions = artefact_versions(AsrOptions())
    assert set(versions) == {"face", "voice", "text", "asr", "pipeline"}


@pytest.mark.parametrize("options", [PipelineOptions(), PipelineOptions(sample_fps=2.0, store_transcripts=False)])
def test_pipeline_version_from_artefacts_equals_the_loaded_models(options):
    models = load_models(options.asr)
    assert artefact_versions(options.asr) == models.versions
    assert version_of(options, artefact_versions(options.asr)) == pipeline_version(options, models)


def test_a_face_artefact_without_its_metrics_is_read(tmp_path):
    from multimodal_fer.face.model import ARTEFACT_NAME, FaceModel
    from multimodal_fer.paths import FACE_ARTEFACTS

    copy = tmp_path / "renamed.joblib"
    shutil.copy(FACE_ARTEFACTS / ARTEFACT_NAME, copy)
    assert FaceModel.version_of_artefact(copy) == FaceModel.load(copy).version == FaceModel.version_of_artefact()
