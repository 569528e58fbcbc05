import json

import fsspec
import pytest

from multimodal_fer import bucket


def _touch(root, rel, data=b"x"):
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def test_discover_follows_the_convention(tmp_path):
    _touch(tmp_path, "P1/S1.mp4", b"a")
    _touch(tmp_path, "P1/S2.webm", b"b")
    _touch(tmp_path, "P2/visit-3.MKV", b"c")
    _touch(tmp_path, "P2/visit-3.mp4", b"d")  # same session twice
    _touch(tmp_path, "loose.mp4")  # wrong depth
    _touch(tmp_path, "P3/deep/S1.mp4")  # wrong depth
    _touch(tmp_path, "P4/notes.docx")  # not a recording
    _touch(tmp_path, "P5/bad id.mp4")  # space in id
    _touch(tmp_path, "P6/ünïcode.mp4")  # non-ASCII
    _touch(tmp_path, "P7/.hidden.mp4")  # ignored
    _touch(tmp_path, "_notes.txt")  # ignored
    _touch(tmp_path, "manifest.csv", b"patient_id,session_id\n")
    recs, invalid = bucket.discover(str(tmp_path))
    assert [(r.patient_id, r.session_id) for r in recs] == [("P1", "S1"), ("P1", "S2"), ("P2", "visit-3")]
    reasons = {i.uri.split(str(tmp_path))[-1]: i.reason for i in invalid}
    assert set(reasons) == {"/P2/visit-3.mp4", "/loose.mp4", "/P3/deep/S1.mp4", "/P4/notes.docx", "/P5/bad id.mp4",
                            "/P6/ünïcode.mp4"}
    assert "already has a recording" in reasons["/P2/visit-3.mp4"]
    assert "does not follow" in reasons["/loose.mp4"]
    assert "invalid session id" in reasons["/P5/bad id.mp4"]


@pytest.mark.parametrize("value", ["..", "../etc", "a/b", "", ".hidden", "x" * 200, "naïve", "a\nb", "-rf"])
def test_unsafe_ids_are_rejected(value):
    with pytest.raises(bucket.BucketError):
        bucket.validate_id(value, "patient id")


def test_sha256_identifies_content(tmp_path):
    a = _touch(tmp_path, "P1/a.mp4", b"same bytes")
    b = _touch(tmp_path, "P1/b.mp4", b"same bytes")
    c = _touch(tmp_path, "P1/c.mp4", b"other bytes")
    assert bucket.sha256_of(str(a)) == bucket.sha256_of(str(b)) != bucket.sha256_of(str(c))
    assert len(bucket.sha256_of(str(a))) == 64


def test_fsspec_buckets_work(tmp_path):
    fs = fsspec.filesystem("memory")
    fs.pipe("/mfer-test/P9/S1.mp4", b"video bytes")
    recs, invalid = bucket.discover("memory://mfer-test")
    assert [(r.patient_id, r.session_id) for r in recs] == [("P9", "S1")] and not invalid
    local = bucket.fetch_local(recs[0].uri, tmp_path)
    assert local.read_bytes() == b"video bytes"
    assert bucket.sha256_of(recs[0].uri) == bucket.sha256_of(str(local))


def test_manifest_csv_and_json(tmp_path):
    (tmp_path / "manifest.csv").write_text(
        "patient_id,session_id,recorded_at,site,trial_arm,clinician_id\nP1,S1,2026-01-02T10:00:00,site-a,arm-1,C1\n"
        "P1,S2,,site-a,,\n")
    meta = bucket.read_manifest(str(tmp_path))
    assert meta[("P1", "S1")].recorded_at.year == 2026 and meta[("P1", "S1")].site == "site-a"
    assert meta[("P1", "S2")].recorded_at is None and meta[("P1", "S2")].trial_arm is None
    (tmp_path / "manifest.csv").unlink()
    (tmp_path / "manifest.json").write_text(json.dumps({"sessions": [{"patient_id": "P2", "session_id": "S1", "site": "b"}]}))
    assert bucket.read_manifest(str(tmp_path))[("P2", "S1")].site == "b"


def test_manifest_names_the_patient_audio_channel(tmp_path):
    (tmp_path / "manifest.csv").write_text("patient_id,session_id,patient_channel\nP1,S1,1\nP1,S2,\n")
    meta = bucket.read_manifest(str(tmp_path))
    assert meta[("P1", "S1")].patient_channel == 1 and meta[("P1", "S2")].patient_channel is None
    (tmp_path / "manifest.csv").unlink()
    (tmp_path / "manifest.json").write_text(json.dumps([{"patient_id": "P2", "session_id": "S1", "patient_channel": 0}]))
    assert bucket.read_manifest(str(tmp_path))[("P2", "S1")].patient_channel == 0


@pytest.mark.parametrize("text, message", [
    ("patient_id,session_id,colour\nP1,S1,red\n", "unknown columns"),
    ("patient_id,session_id\nP1,\n", "required"),
    ("patient_id,session_id\n../x,S1\n", "invalid patient id"),
    ("patient_id,session_id,recorded_at\nP1,S1,yesterday\n", "not an ISO date"),
    ("patient_id,session_id\nP1,S1\nP1,S1\n", "listed twice"),
    ("patient_id,session_id,patient_channel\nP1,S1,left\n", "patient_channel 'left' is not a channel index"),
    ("patient_id,session_id,patient_channel\nP1,S1,-1\n", "is not a channel index"),
])
def test_malformed_manifest_names_the_problem(tmp_path, text, message):
    (tmp_path / "manifest.csv").write_text(text)
    with pytest.raises(bucket.BucketError, match=message):
        bucket.read_manifest(str(tmp_path))


def test_missing_bucket_is_a_clear_error(tmp_path):
    with pytest.raises(bucket.BucketError, match="not found"):
        bucket.discover(str(tmp_path / "nope"))


def test_pseudonyms_are_keyed_stable_and_hide_the_id(tmp_path):
    rec = bucket.Recording(str(tmp_path / "alice-smith" / "S1.mp4"), "alice-smith", "S1", 1)
    a = bucket.pseudonymise(rec, "secret-key")
    assert a.patient_id == bucket.pseudonymise(rec, "secret-key").patient_id != bucket.pseudonymise(rec, "other").patient_id
    assert a.patient_id.startswith("p_") and len(a.patient_id) == 18
    assert "alice" not in a.stored_uri and a.stored_uri.endswith(f"/{a.patient_id}/S1.mp4")
    assert a.uri == rec.uri  # the file is still read from where it is
    bucket.validate_id(a.patient_id, "patient id")
    assert bucket.pseudonymise(rec, None) == rec
