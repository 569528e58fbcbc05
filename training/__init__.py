"""Training and parameter fitting: everything that builds the artefacts under ``multimodal_fer/*/artefacts/``.

Outside the run-time package :mod:`multimodal_fer` (which never imports it); these modules import
the run-time's features, model classes and constants. Each has a ``python -m`` entry point:

* :mod:`training.face` (+ :mod:`training.face_cnn`, :mod:`training.face_embedding`): the face model;
* :mod:`training.voice`: the voice model;
* :mod:`training.text` (+ :mod:`training.text_finetune`): the text head and the fine-tuned encoder;
* :mod:`training.fusion_params`: the fusion defaults (reliabilities, training priors).
"""
