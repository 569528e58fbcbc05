import json
import os
from datetime import datetime

import fsspec
import pytest

from multimodal_fer import bucket
from multimodal_fer.pseudonyms import Pseudonyms, pseudonym


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
    ("patient_id,session_id,recorded_at\nP1,S1,2999-01-01\n", "in the future"),
    ("patient_id,session_id,recorded_at\nP1,S1,0001-01-01T00:00:00+01:00\n", "outside the years 1-9999"),
    ("patient_id,session_id,recorded_at\nP1,S1,9999-12-31T23:00:00-05:00\n", "outside the years 1-9999"),
    ("patient_id,session_id,patient_channel\nP1,S1,\u00b2\n", "is not a channel index"),  # superscript two
    ("patient_id,session_id,patient_channel\nP1,S1,\u0663\n", "is not a channel index"),  # Arabic-Indic three
])
def test_malformed_manifest_names_the_problem(tmp_path, text, message):
    (tmp_path / "manifest.csv").write_text(text)
    with pytest.raises(bucket.BucketError, match=message):
        bucket.read_manifest(str(tmp_path))


def test_a_file_given_as_the_bucket_is_a_clear_error(tmp_path):
    (tmp_path / "P001").mkdir()
    (tmp_path / "P001" / "S01.mp4").write_bytes(b"x")
    with pytest.raises(bucket.BucketError, match="bucket is not a folder"):
        bucket.discover(str(tmp_path / "P001" / "S01.mp4"))  # `mfer run recording.mp4`


def test_missing_bucket_is_a_clear_error(tmp_path):
    with pytest.raises(bucket.BucketError, match="not found"):
        bucket.discover(str(tmp_path / "nope"))


def test_pseudonyms_are_keyed_stable_and_hide_the_id(tmp_path):
    (tmp_path / "alice-smith").mkdir()
    (tmp_path / "alice-smith" / "visit-2026-01-02.mp4").write_bytes(b"x")
    (tmp_path / "alice-smith" / "bad name.mp4").write_bytes(b"x")
    (tmp_path / "alice-smith" / "notes.txt").write_bytes(b"x")
    key = Pseudonyms("secret-key")
    (rec,), invalid = bucket.discover(str(tmp_path), key)
    assert rec.patient_id == pseudonym("alice-smith", "secret-key") == Pseudonyms("secret-key").patient("alice-smith")
    assert rec.patient_id != Pseudonyms("other").patient("alice-smith")
    assert rec.patient_id.startswith("p_") and len(rec.patient_id) == 18
    assert rec.session_id.startswith("s_") and rec.session_id != key.session("bob", "visit-2026-01-02")
    assert rec.stored_uri.endswith(f"/{rec.patient_id}/{rec.session_id}.mp4")
    assert rec.uri == str(tmp_path / "alice-smith" / "visit-2026-01-02.mp4")  # still read from where it is
    bucket.validate_id(rec.patient_id, "patient id")
    stored = " ".join([rec.stored_uri, rec.patient_id, rec.session_id] + [i.uri + i.reason for i in invalid])
    for raw in ("alice", "smith", "visit", "2026", "bad name", "notes"):
        assert raw not in stored.replace(str(tmp_path), ""), raw
    assert len(invalid) == 2 and any("invalid session id" in i.reason for i in invalid)
    (plain,), _ = bucket.discover(str(tmp_path))
    assert (plain.patient_id, plain.session_id, plain.public_uri) == ("alice-smith", "visit-2026-01-02", None)
    (tmp_path / "manifest.json").write_text(json.dumps([{"patient_id": "P2", "session_id": "S1", "patient_channel": 0}]))
    assert bucket.read_manifest(str(tmp_path))[("P2", "S1")].patient_channel == 0


def test_links_and_special_files_are_quarantined_not_followed(tmp_path):
    (tmp_path / "P1").mkdir()
    (tmp_path / "P1" / "S1.mp4").write_bytes(b"real")
    (tmp_path / "P1" / "S2.mp4").symlink_to(tmp_path / "nowhere.mp4")  # dangling
    (tmp_path / "P1" / "S3.mp4").symlink_to("/etc/hostname")  # points out of the bucket
    os.mkfifo(tmp_path / "P1" / "S4.mp4")  # would block a reader forever
    (tmp_path / "P2").symlink_to(tmp_path / "P1", target_is_directory=True)
    recs, invalid = bucket.discover(str(tmp_path))
    assert [(r.patient_id, r.session_id) for r in recs] == [("P1", "S1")]
    reasons = {i.uri.rsplit("/", 2)[-2] + "/" + i.uri.rsplit("/", 1)[-1]: i.reason for i in invalid}
    assert "symbolic link" in reasons["P1/S2.mp4"] and "symbolic link" in reasons["P1/S3.mp4"]
    assert "named pipe" in reasons["P1/S4.mp4"]
    assert any("P2" in u for u in reasons)  # the linked folder is reported, not walked
    with pytest.raises(bucket.BucketError, match="not a regular file"):
        bucket.sha256_of(str(tmp_path / "P1" / "S4.mp4"))  # returns at once instead of blocking


def test_a_recording_that_changes_while_hashed_is_refused(tmp_path):
    (tmp_path / "P1").mkdir()
    path = tmp_path / "P1" / "S1.mp4"
    path.write_bytes(b"first part")
    (rec,), _ = bucket.discover(str(tmp_path))
    assert len(bucket.hash_recording(rec)) == 64
    with open(path, "ab") as fh:
        fh.write(b" and more")  # still being written
    with pytest.raises(bucket.BucketError, match="changed while it was read"):
        bucket.hash_recording(rec)


def test_manifest_times_are_utc_and_missing_cells_are_null(tmp_path):
    (tmp_path / "manifest.csv").write_text("patient_id,session_id,recorded_at,site,trial_arm\n"
                                           "P1,S1,2026-01-02T10:00:00+02:00,nan,\nP1,S2,2026-01-02T10:00:00Z,NULL,arm\n"
                                           "P1,S3,2026-01-02 10:00,site-a,NaN\n")
    m = bucket.read_manifest(str(tmp_path))
    assert m[("P1", "S1")].recorded_at == datetime(2026, 1, 2, 8, 0)  # the offset applied, not dropped
    assert m[("P1", "S2")].recorded_at == m[("P1", "S3")].recorded_at == datetime(2026, 1, 2, 10, 0)
    assert (m[("P1", "S1")].site, m[("P1", "S1")].trial_arm, m[("P1", "S2")].site) == (None, None, None)
    assert (m[("P1", "S3")].site, m[("P1", "S3")].trial_arm) == ("site-a", None)


def test_unreadable_manifests_are_one_clear_error(tmp_path):
    (tmp_path / "manifest.csv").write_bytes("patient_id,session_id,site\nP1,S1,Zürich\n".encode("latin-1"))
    with pytest.raises(bucket.BucketError, match="not UTF-8"):
        bucket.read_manifest(str(tmp_path))
    (tmp_path / "manifest.csv").unlink()
    os.mkfifo(tmp_path / "manifest.csv")
    with pytest.raises(bucket.BucketError, match="cannot be read"):
        bucket.read_manifest(str(tmp_path))  # a pipe: refused at once, never read


def test_manifest_errors_name_rows_by_pseudonym(tmp_path):
    (tmp_path / "manifest.csv").write_text("patient_id,session_id\nalice,S1\nalice,S1\n")
    with pytest.raises(bucket.BucketError, match="row 2") as err:
        bucket.read_manifest(str(tmp_path), Pseudonyms("k"))
    assert "alice" not in str(err.value) and Pseudonyms("k").patient("alice") in str(err.value)


@pytest.mark.parametrize("name, data", [
    ("manifest.csv", b"alice,S1,2026-09-01T10:00:00,site-a\n"),  # no header: the first row's cells
    ("manifest.json", b'[{"patient_id": "P1", "session_id": "S1", "alice": "x"}]'),  # an id as a key
])
def test_a_manifest_error_never_echoes_an_id_under_a_key(tmp_path, name, data):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(bucket.BucketError) as err:
        bucket.read_manifest(str(tmp_path), Pseudonyms("k"))
    assert "alice" not in str(err.value) and "\n" not in str(err.value)
    assert ("the first line must be the header" if name.endswith(".csv") else "unknown columns") in str(err.value)


def test_two_manifests_or_a_dangling_link_are_an_invalid_manifest(tmp_path):
    (tmp_path / "manifest.csv").write_text("patient_id,session_id\nP1,S1\n")
    (tmp_path / "manifest.json").write_text('[{"patient_id": "P1", "session_id": "S2"}]')
    with pytest.raises(bucket.BucketError, match="manifest.csv and manifest.json are both in the bucket: keep one"):
        bucket.read_manifest(str(tmp_path))
    (tmp_path / "manifest.json").unlink()
    (tmp_path / "manifest.csv").unlink()
    (tmp_path / "manifest.csv").symlink_to(tmp_path / "gone.csv")
    with pytest.raises(bucket.BucketError, match="manifest.csv: cannot be read"):
        bucket.read_manifest(str(tmp_path))


@pytest.mark.parametrize("value", ['{"name": "site-a"}', '["a", "b"]', "true"])
def test_json_objects_lists_and_booleans_are_not_text(tmp_path, value):
    (tmp_path / "manifest.json").write_text(f'[{{"patient_id": "P1", "session_id": "S1", "site": {value}}}]')
    with pytest.raises(bucket.BucketError, match="row 1: site: a JSON object, list or true/false"):
        bucket.read_manifest(str(tmp_path))


@pytest.mark.parametrize("name, data", [("manifest.json", b"[" * 100_000 + b"]" * 100_000),
                                        ("manifest.csv", b"patient_id,session_id\nP1,S1\x00\n"),
                                        ("manifest.json", b'{"sessions": 3}')])
def test_hostile_manifests_are_one_bucket_error(tmp_path, name, data):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(bucket.BucketError) as err:
        bucket.read_manifest(str(tmp_path))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("key", [None, "k"])
def test_a_name_that_is_not_utf8_is_quarantined_not_fatal(tmp_path, key):
    (tmp_path / "P1").mkdir()
    (tmp_path / "P1" / "S1.mp4").write_bytes(b"real")
    (tmp_path / "P1" / os.fsdecode(b"S\xe9.mp4")).write_bytes(b"latin-1 name")
    (tmp_path / os.fsdecode(b"P\xff")).mkdir()
    (tmp_path / os.fsdecode(b"P\xff") / "S1.mp4").write_bytes(b"in a folder with a latin-1 name")
    recs, invalid = bucket.discover(str(tmp_path), Pseudonyms(key))
    assert [r.session_id for r in recs] == [Pseudonyms(key).session("P1", "S1")]
    assert len(invalid) == 2 and all("not UTF-8" in i.reason for i in invalid)
    for i in invalid:
        i.uri.encode("utf-8")  # storable: no lone surrogate left
        assert ("\\xe9" in i.uri or "\\xff" in i.uri) != bool(key)  # shown escaped, or only as an alias


def test_a_bucket_path_that_is_not_utf8_is_one_clear_error(tmp_path):
    root = tmp_path / os.fsdecode(b"b\xe9")
    root.mkdir()
    with pytest.raises(bucket.BucketError, match=r"not UTF-8 text") as err:
        bucket.discover(str(root))
    assert "\\xe9" in str(err.value)


def test_every_spelling_of_a_folder_gives_the_same_uris(tmp_path, monkeypatch):
    (tmp_path / "b" / "P1").mkdir(parents=True)
    (tmp_path / "b" / "P1" / "S1.mp4").write_bytes(b"x")
    (tmp_path / "b" / "P1" / "bad name.mp4").write_bytes(b"y")
    monkeypatch.chdir(tmp_path / "b" / "P1")
    spellings = [str(tmp_path / "b"), "..", "../", f"../../../{tmp_path.name}/b", str(tmp_path / "b") + "//"]
    listings = [bucket.discover(s) for s in spellings]
    assert len({(tuple(r.uri for r in recs), tuple(i.uri for i in bad)) for recs, bad in listings}) == 1
    assert len({bucket.manifest_uri(s) for s in spellings}) == 1
