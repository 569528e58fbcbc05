"""Planning: skip, re-home, duplicate or process, from the listing and the warehouse alone."""

from multimodal_fer.bucket import Recording
from multimodal_fer.planning import plan
from multimodal_fer.store import Location

V = "v1"


def rec(patient, session):
    return Recording(f"/b/{patient}/{session}.mp4", patient, session, 10, modified="1")


def test_same_bytes_same_place_is_skipped_and_new_bytes_are_processed():
    loaded = {"a": Location("P1", "S1", "/b/P1/S1.mp4", V)}
    p = plan([(rec("P1", "S1"), "a"), (rec("P1", "S2"), "b")], loaded=loaded, quarantined=set(), version=V)
    assert [(r.session_id, s) for r, s in p.skipped] == [("S1", "a")]
    assert [(r.session_id, s) for r, s in p.todo] == [("S2", "b")] and not p.rehome and not p.duplicates


def test_another_pipeline_version_is_processed_again():
    loaded = {"a": Location("P1", "S1", "/b/P1/S1.mp4", "v0")}
    p = plan([(rec("P1", "S1"), "a")], loaded=loaded, quarantined=set(), version=V)
    assert len(p.todo) == 1 and not p.skipped


def test_a_copy_under_another_patient_is_a_duplicate_of_the_loaded_one():
    loaded = {"a": Location("P2", "S1", "/b/P2/S1.mp4", V)}
    p = plan([(rec("P1", "S1"), "a"), (rec("P2", "S1"), "a")], loaded=loaded, quarantined=set(), version=V)
    assert [r.patient_id for r, _ in p.skipped] == ["P2"]  # the loaded place is the recording, though it sorts last
    (dup,) = p.duplicates
    assert (dup.patient_id, dup.recording_sha256, dup.stage) == ("P1", "a", "plan") and "P2/S1" in dup.reason


def test_two_new_copies_process_one_and_report_the_other():
    p = plan([(rec("P1", "S1"), "a"), (rec("P1", "S2"), "a")], loaded={}, quarantined=set(), version=V)
    assert [r.session_id for r, _ in p.todo] == ["S1"] and [d.session_id for d in p.duplicates] == ["S2"]


def test_of_two_new_copies_the_one_the_manifest_describes_is_the_recording():
    hashed = [(rec("P1", "S1"), "a"), (rec("P1", "S2"), "a")]
    p = plan(hashed, loaded={}, quarantined=set(), version=V, in_manifest=[("P1", "S2")])
    assert [r.session_id for r, _ in p.todo] == ["S2"] and [d.session_id for d in p.duplicates] == ["S1"]
    loaded = {"a": Location("P1", "S1", "/b/P1/S1.mp4", V)}  # but a loaded copy stays the recording
    p = plan(hashed, loaded=loaded, quarantined=set(), version=V, in_manifest=[("P1", "S2")])
    assert [r.session_id for r, _ in p.skipped] == ["S1"] and [d.session_id for d in p.duplicates] == ["S2"]


def test_a_moved_recording_is_rehomed():
    loaded = {"a": Location("P1", "S1", "/b/P1/S1.mp4", V)}
    p = plan([(rec("P9", "S1"), "a")], loaded=loaded, quarantined=set(), version=V)
    (r,) = p.rehome
    assert (r.recording.patient_id, r.old.patient_id) == ("P9", "P1") and not p.todo and not p.duplicates


def test_quarantined_content_waits_for_a_retry_unless_it_changed():
    q = {("/b/P1/S1.mp4", "a")}
    assert len(plan([(rec("P1", "S1"), "a")], loaded={}, quarantined=q, version=V).skipped) == 1
    assert len(plan([(rec("P1", "S1"), "b")], loaded={}, quarantined=q, version=V).todo) == 1  # new bytes
    assert len(plan([(rec("P1", "S1"), "a")], loaded={}, quarantined=q, version=V, retry_quarantined=True).todo) == 1
