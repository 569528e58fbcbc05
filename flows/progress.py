"""Progress lines of the flows: printed to the console (``mfer run``'s stdout, as always) and sent to
the Prefect run's logs (the UI's and the API's log of the flow run or task run).

The run logger's own level follows ``PREFECT_LOGGING_LEVEL`` (WARNING by default here, so that
Prefect's own INFO lines stay off the console). Progress lines therefore go to a logger of their
own, ``prefect.flow_runs.mfer`` (``prefect.task_runs.mfer`` in a task), at INFO, with the API
handler only: they reach Prefect's logs without being printed twice. Lines name recordings only by
their stored (pseudonymised) ids.
"""

from __future__ import annotations

import logging

from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger
from prefect.logging.handlers import APILogHandler

PROGRESS_SUFFIX = "mfer"  # prefect.flow_runs.mfer, prefect.task_runs.mfer


def _configured(logger: logging.Logger) -> logging.Logger:
    if not any(isinstance(h, APILogHandler) for h in logger.handlers):
        logger.setLevel(logging.INFO)
        logger.addHandler(APILogHandler())
        logger.propagate = False  # the console already has the printed line
    return logger


def progress(message: str) -> None:
    """Print ``message`` and log it (INFO) to the current flow or task run; only printed outside a run."""
    print(message, flush=True)
    try:
        run_logger = get_run_logger()
    except MissingContextError:
        return
    child = run_logger.getChild(PROGRESS_SUFFIX)  # type: ignore[union-attr]
    _configured(child.logger)
    child.info(message)
