"""multimodal-fer: expressed emotion of patients in recorded telehealth sessions.

The library is plain Python (no Prefect): ``flows/`` composes it into scheduled batch jobs.
Everything it outputs describes *expressed* emotion (what a face, a voice and words show),
never a person's inner state.
"""

__version__ = "0.1.0"
