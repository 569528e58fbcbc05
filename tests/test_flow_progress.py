"""The flows' progress lines: on stdout as before, and in the Prefect run's logs (once, at INFO)."""

from __future__ import annotations

from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.logging.handlers import APILogHandler
from prefect.runtime import flow_run

from multimodal_fer_flows.progress import progress


@task
def _a_task() -> None:
    progress("data quality sessions 1 rows")


@flow(name="progress-probe")
def _probe() -> str:
    progress("[1/2] P1/S1 (0.1 MB): analysed in 1.0 s")
    _a_task()
    return flow_run.get_id()


def test_progress_lines_are_printed_and_reach_the_run_logs(capsys):
    run_id = _probe()
    out = capsys.readouterr().out
    assert "[1/2] P1/S1 (0.1 MB): analysed in 1.0 s" in out and "data quality sessions 1 rows" in out
    assert out.count("[1/2] P1/S1") == 1  # printed once: the log line is not echoed to the console
    APILogHandler().flush()  # the handler sends in batches: send what it holds now
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
    messages = [log.message for log in logs]
    assert "[1/2] P1/S1 (0.1 MB): analysed in 1.0 s" in messages
    assert "data quality sessions 1 rows" in messages


def test_outside_a_run_the_line_is_only_printed(capsys):
    progress("no run here")
    assert capsys.readouterr().out == "no run here\n"


def test_an_unreadable_recording_is_tried_again_then_quarantined_without_its_raw_ids(tmp_path, capsys, monkeypatch):
    from multimodal_fer import bucket
    from multimodal_fer_flows.process_bucket import hash_all

    missing = tmp_path / "RAWPATIENT" / "RAWSESSION.mp4"
    tries = []

    def unreadable(recording):
        tries.append(recording)
        raise OSError(5, "Input/output error", recording.uri)

    monkeypatch.setattr(bucket, "hash_recording", unreadable)
    rec = bucket.Recording(str(missing), "p-alias", "s-alias", 10, public_uri=f"{tmp_path}/p-alias/s-alias.mp4")

    @flow(name="hash-probe")
    def probe():
        return hash_all([rec], {})

    hashed, fresh, failed = probe()
    assert (hashed, fresh) == ([], [])
    assert [(q.stage, q.error_type, q.patient_id) for q in failed] == [("plan", "UnreadableRecording", "p-alias")]
    assert failed[0].reason == "cannot read the recording: Input/output error" and len(tries) == 3
    out = capsys.readouterr()
    assert "RAWPATIENT" not in failed[0].reason + out.out + out.err
