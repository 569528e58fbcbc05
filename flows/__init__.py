"""Prefect flows that compose the ``multimodal_fer`` library into batch jobs.

One flow, :mod:`flows.process_bucket` (discover → analyse each new recording → load → validate);
:mod:`flows.process_recording` holds what its ``analyze-recording`` task runs (one recording),
:mod:`flows.progress` the progress lines printed and sent to the run's Prefect logs.
"""

from multimodal_fer.env import apply_defaults

apply_defaults()
