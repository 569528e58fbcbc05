"""``benchmarks/av_ablation.py --dubbed``: one person's video with another person's audio, packets copied."""

from pathlib import Path

import numpy as np

from benchmarks import av_ablation as bench
from tests.conftest import needs_shared


def _decode(path: Path, kind: str) -> tuple[int, np.ndarray | None]:
    """(number of video frames, None) or (0, mono float audio) of a media file."""
    import av

    with av.open(str(path)) as c:
        if kind == "video":
            return sum(1 for _ in c.decode(video=0)), None
        return 0, np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])


def test_dubbed_clip_has_the_videos_frames_and_the_other_recordings_audio(tmp_path):
    video = needs_shared("av", "cremad", "video_flv", "1001_DFA_SAD_XX.flv")
    audio = needs_shared("av", "cremad", "audio_mp3", "1002_DFA_SAD_XX.mp3")
    out = bench.dub(video, audio, tmp_path / "dubbed.flv")
    frames_in, _ = _decode(video, "video")
    frames_out, _ = _decode(out, "video")
    assert frames_out == frames_in > 0
    _, own = _decode(video, "audio")
    _, other = _decode(audio, "audio")
    _, dubbed = _decode(out, "audio")
    assert dubbed.size == other.size != own.size
    assert np.allclose(dubbed, other)


def test_dubbed_clips_pair_each_clip_with_the_same_emotion_and_keep_the_label_in_the_name(tmp_path):
    folder = needs_shared("av", "cremad", "video_flv")
    clips = sorted(folder.glob("*.flv"))
    dubbed = bench.dubbed_clips(clips, tmp_path)
    assert [d.stem.split("_")[2] for d in dubbed] == [c.stem.split("_")[2] for c in clips]
    assert all(d.stat().st_size > 0 and d.stem.endswith("_dub1002") for d in dubbed)
