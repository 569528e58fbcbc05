"""Prefect flows that compose the ``multimodal_fer`` library into batch jobs.

One flow per file: :mod:`flows.process_recording` (one recording) and
:mod:`flows.process_bucket` (discover → analyse each new recording → load → validate).
"""

from multimodal_fer.env import apply_defaults

apply_defaults()
