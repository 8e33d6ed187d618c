"""Video readers: WebVid folder + CSV, video2dataset tar shards, the motion cache of `prepare`, skipping."""

import io
import json
import tarfile

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from fyc.__main__ import main as fyc_main
from fyc.data.motion_cache import MotionCache, read_jsonl
from fyc.data.prepare import parse_shard, prepare
from fyc.data.sources import expand_shards, read_webvid_csv
from fyc.data.video import (
    ClipSpec,
    CorruptVideoError,
    MissingVideoError,
    TooShortVideoError,
    read_clip,
    read_clip_bytes,
    resize_center_crop,
)
from fyc.data.webvid import VideoShardDataset, WebVidFolderDataset

W, H = 160, 128  # source videos; multiples of 16 so the encoder keeps the size
SPEC = ClipSpec(num_frames=6, stride=2, height=96, width=128, start="first")
SPEED = 1.0  # source px per source frame -> 1 * stride * (128/160) px per clip frame at 128 px wide
EXPECTED_OFM = SPEED * SPEC.stride * (128 / W) * 256 / 128  # = 3.2 reference px/frame
SQUARE = (40, 48, 32)  # x0, y0, side in source pixels


def moving_square_video(num_frames=16, seed=0):
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (H // 4, W // 4, 3), dtype=np.uint8)
    background = np.kron(coarse, np.ones((4, 4, 1), np.uint8))
    square = np.kron(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), np.ones((4, 4, 1), np.uint8))
    x0, y0, side = SQUARE
    frames = []
    for i in range(num_frames):
        frame = background.copy()
        x = round(x0 + SPEED * i)
        frame[y0 : y0 + side, x : x + side] = square
        frames.append(frame)
    return np.stack(frames)


def numbered_video(num_frames):
    """Frame i is uniformly gray at level 8*i: tells which source frames a clip took."""
    return np.stack([np.full((H, W, 3), 8 * i, np.uint8) for i in range(num_frames)])


def write_mp4(path, frames):
    iio.imwrite(path, frames, fps=8, codec="libx264", quality=9)
    return path


def mp4_bytes(frames):
    return iio.imwrite("<bytes>", frames, extension=".mp4", fps=8, codec="libx264", quality=9)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("webvid")
    write_mp4(root / "101.mp4", moving_square_video(seed=1))
    (root / "pages" / "p7").mkdir(parents=True)
    write_mp4(root / "pages" / "p7" / "102.mp4", moving_square_video(seed=2))
    (root / "103.mp4").write_bytes(b"\x00not a video" * 100)  # corrupt
    write_mp4(root / "104.mp4", moving_square_video(num_frames=5))  # shorter than a clip (11 frames)
    write_mp4(root / "106.mp4", numbered_video(24))
    (root / "results.csv").write_text(
        "videoid,contentUrl,duration,page_dir,name\n"
        "101,https://x/101.mp4,PT00H00M02S,p1,A dog is running on the beach\n"
        "102,https://x/102.mp4,PT00H00M02S,pages/p7,Man shaking his head\n"
        "103,https://x/103.mp4,PT00H00M02S,p1,Corrupt video of a flag waving\n"
        "104,https://x/104.mp4,PT00H00M01S,p1,Short clip of birds flying\n"
        "105,https://x/105.mp4,PT00H00M02S,p1,Missing file of a horse galloping\n"
        "106,https://x/106.mp4,PT00H00M03S,p1,Gray frames fading in\n"
    )
    shards = root / "shards"
    shards.mkdir()
    write_tar(
        shards / "00000.tar",
        [
            (
                "000000000",
                mp4_bytes(moving_square_video(seed=3)),
                "Candle flame flickering in the dark",
                {"videoid": "v0"},
            ),
            ("000000001", b"garbage" * 50, "Broken video", {"videoid": "v1"}),
            ("000000002", mp4_bytes(moving_square_video(seed=4)), "Woman waves her hand", {"key": "000000002"}),
        ],
    )
    write_tar(
        shards / "00001.tar",
        [
            ("000010000", mp4_bytes(moving_square_video(seed=5)), "Fish swimming in an aquarium", {"videoid": "v3"}),
            ("000010001", None, "Caption without a video", {"videoid": "v4"}),
        ],
    )
    return root


def write_tar(path, samples):
    with tarfile.open(path, "w") as tar:
        for key, video, caption, meta in samples:
            members = [(".txt", caption.encode()), (".json", json.dumps(meta).encode())]
            if video is not None:
                members.insert(0, (".mp4", video))
            for ext, data in members:
                info = tarfile.TarInfo(key + ext)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


# -- decoding -------------------------------------------------------------------------------------------


def test_read_clip_takes_every_stride_th_frame(videos):
    spec = ClipSpec(num_frames=4, stride=3, height=64, width=80, start="first")
    frames, start = read_clip(videos / "106.mp4", spec)
    assert frames.shape == (4, 64, 80, 3) and frames.dtype == np.uint8 and start == 0
    np.testing.assert_allclose(frames.mean(axis=(1, 2, 3)), [0, 24, 48, 72], atol=3)
    frames, start = read_clip(videos / "106.mp4", spec, start=5)
    np.testing.assert_allclose(frames.mean(axis=(1, 2, 3)), [40, 64, 88, 112], atol=3)
    center = ClipSpec(num_frames=4, stride=3, height=64, width=80, start="center")
    assert read_clip(videos / "106.mp4", center)[1] == (24 - 10) // 2
    starts = {read_clip(videos / "106.mp4", ClipSpec(4, 3, 64, 80), rng=np.random.default_rng(s))[1] for s in range(8)}
    assert len(starts) > 1 and all(0 <= s <= 14 for s in starts)


def test_read_clip_errors(videos, tmp_path):
    with pytest.raises(CorruptVideoError):
        read_clip(videos / "103.mp4", SPEC)
    with pytest.raises(TooShortVideoError, match="needs 11"):
        read_clip(videos / "104.mp4", SPEC)
    with pytest.raises(MissingVideoError):
        read_clip(tmp_path / "nope.mp4", SPEC)
    with pytest.raises(CorruptVideoError):
        read_clip_bytes(b"", SPEC)
    with pytest.raises(ValueError, match="num_frames >= 2"):
        ClipSpec(num_frames=1)


def test_resize_center_crop_keeps_aspect_and_centre():
    frames = np.zeros((2, 100, 200, 3), np.uint8)
    frames[:, :, 90:110] = 255  # a vertical bar in the middle
    out = resize_center_crop(frames, 50, 50)
    assert out.shape == (2, 50, 50, 3)
    assert out[0, :, 25].min() > 200 and out[0, :, 0].max() == 0  # bar stays centred, sides cropped


# -- WebVid folder + CSV ---------------------------------------------------------------------------------


def test_webvid_csv_items_and_lookup(videos, tmp_path):
    items = read_webvid_csv(videos / "results.csv")
    assert [i.video_id for i in items] == ["101", "102", "103", "104", "105", "106"]
    assert items[0].caption == "A dog is running on the beach" and items[0].meta["duration"] == "PT00H00M02S"
    assert items[1].resolve().endswith("pages/p7/102.mp4")
    with pytest.raises(MissingVideoError, match="105"):
        items[4].resolve()
    (tmp_path / "bad.csv").write_text("id,caption\n1,x\n")
    with pytest.raises(ValueError, match="videoid"):
        read_webvid_csv(tmp_path / "bad.csv")


def test_webvid_dataset_samples_motion_and_skips(videos, tmp_path):
    captions = tmp_path / "motion.jsonl"
    captions.write_text(json.dumps({"id": "101", "caption": "...", "objects": ["dog"], "motion": "run fast"}) + "\n")
    ds = WebVidFolderDataset(videos / "results.csv", spec=SPEC, captions=captions)
    assert len(ds) == 6
    sample = ds[0]
    assert set(sample) >= {"pixel_values", "caption", "motion_prompt", "motion_mask", "ofm", "video_id"}
    px = sample["pixel_values"]
    assert px.shape == (6, 3, 96, 128) and px.dtype == torch.float32 and -1 <= px.min() < px.max() <= 1
    assert sample["video_id"] == "101" and sample["caption"] == "A dog is running on the beach"
    assert sample["motion_prompt"] == "run fast"  # from the captions JSONL
    assert ds[1]["motion_prompt"] == "shake head"  # not in the JSONL: rule-based extractor
    mask = sample["motion_mask"]
    assert mask.dtype == torch.bool and mask.shape == (96, 128)
    assert sample["ofm"] == pytest.approx(EXPECTED_OFM, rel=0.25)
    # the square's path, mapped to the training crop (scale 0.8, 3 rows cropped at the top)
    x0, y0, side = SQUARE
    path = np.zeros((96, 128), bool)
    path[round(y0 * 0.8) - 3 : round((y0 + side) * 0.8) - 3, round(x0 * 0.8) : round((x0 + side + 10) * 0.8)] = True
    assert (mask.numpy() & path).sum() / path.sum() > 0.8 and (mask.numpy() & ~path).sum() / path.sum() < 0.2

    # indices 2 (corrupt), 3 (too short), 4 (missing) fall through to the next good video
    fallen_through = ds[2]
    assert fallen_through["video_id"] == "106" and fallen_through["skipped"] == 3
    assert ds[4]["video_id"] == "106" and ds[4]["skipped"] == 0  # already known bad: not counted twice
    assert dict(ds.skipped) == {"corrupt": 1, "too_short": 1, "missing": 1}
    assert ds[5]["ofm"] == 0.0 and not ds[5]["motion_mask"].any()  # uniform frames: nothing moves


def test_webvid_dataset_batches_and_epochs(videos):
    ds = WebVidFolderDataset(videos / "results.csv", spec=ClipSpec(6, 2, 96, 128, start="random"), seed=3)
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch["pixel_values"].shape == (2, 6, 3, 96, 128)
    assert batch["motion_mask"].shape == (2, 96, 128) and batch["ofm"].shape == (2,)
    assert batch["video_id"] == ["101", "102"] and len(batch["motion_prompt"]) == 2
    first = [ds[0]["clip_start"] for _ in range(2)]
    assert first[0] == first[1]  # deterministic per (seed, epoch, index)
    starts = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        starts.add(ds[0]["clip_start"])
    assert len(starts) > 1


def test_all_bad_videos_give_a_clear_error(videos, tmp_path):
    (tmp_path / "bad.csv").write_text("videoid,contentUrl,duration,page_dir,name\n1,u,d,p,a\n2,u,d,p,b\n")
    ds = WebVidFolderDataset(tmp_path / "bad.csv", spec=SPEC)
    with pytest.raises(RuntimeError, match="could not be read"):
        ds[0]


# -- video2dataset tar shards ------------------------------------------------------------------------------


def test_expand_shards(videos):
    shards = videos / "shards"
    assert expand_shards(str(shards / "{00000..00001}.tar")) == [str(shards / "00000.tar"), str(shards / "00001.tar")]
    assert expand_shards(shards) == expand_shards(str(shards / "*.tar"))
    with pytest.raises(FileNotFoundError):
        expand_shards(str(shards / "99999.tar"))


def test_shard_dataset_reads_samples_and_skips_bad_ones(videos):
    ds = VideoShardDataset(str(videos / "shards" / "{00000..00001}.tar"), spec=SPEC)
    samples = list(ds)
    assert [s["video_id"] for s in samples] == ["v0", "000000002", "v3"]
    assert [s["caption"] for s in samples][0] == "Candle flame flickering in the dark"
    assert [s["motion_prompt"] for s in samples] == ["flicker", "wave hand", "swim"]
    assert samples[1]["skipped"] == 1  # the broken member before it
    assert dict(ds.skipped) == {"corrupt": 2}  # garbage bytes + a sample without a video
    for s in samples:
        assert s["pixel_values"].shape == (6, 3, 96, 128)
        assert s["ofm"] == pytest.approx(EXPECTED_OFM, rel=0.25)


def test_shard_dataset_splits_shards_between_workers(videos):
    ds = VideoShardDataset(str(videos / "shards"), spec=SPEC)
    loader = DataLoader(ds, batch_size=None, num_workers=2)
    ids = sorted(s["video_id"] for s in loader)
    assert ids == ["000000002", "v0", "v3"]  # each sample once
    ds = VideoShardDataset(str(videos / "shards"), spec=SPEC)
    batches = list(DataLoader(ds, batch_size=2))
    assert batches[0]["pixel_values"].shape == (2, 6, 3, 96, 128)
    # the sample after the broken member reports it; the video-less sample at the very end has no
    # sample after it, so only the dataset's own counter has it
    assert sum(int(b["skipped"].sum()) for b in batches) == 1 and ds.num_skipped == 2


# -- prepare + cache --------------------------------------------------------------------------------------


def test_parse_shard():
    assert parse_shard("3/16") == (3, 16)
    for bad in ("16/16", "a/b", "3", "-1/4"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_prepare_shards_resume_and_cache_feeds_the_dataset(videos, tmp_path, capsys):
    out = tmp_path / "cache"
    csv_path = str(videos / "results.csv")
    common = [
        "--out",
        str(out),
        "--num-frames",
        "6",
        "--stride",
        "2",
        "--height",
        "96",
        "--width",
        "128",
        "--start",
        "first",
    ]
    assert fyc_main(["prepare", csv_path, "--shard", "0/2", *common]) == 0
    assert fyc_main(["prepare", csv_path, "--shard", "1/2", *common, "--save-clips"]) == 0
    assert "shard 1/2: 3 videos" in capsys.readouterr().out
    index = {r["video_id"]: r for path in MotionCache(out).index_files() for r in read_jsonl(path)}
    assert sorted(MotionCache(out).index_files()) == [
        str(out / "index-00000-of-00002.jsonl"),
        str(out / "index-00001-of-00002.jsonl"),
    ]
    assert {k: v["status"] for k, v in index.items()} == {
        "101": "ok",
        "102": "ok",
        "103": "corrupt",
        "104": "too_short",
        "105": "missing",
        "106": "ok",
    }
    assert index["101"]["ofm"] == pytest.approx(EXPECTED_OFM, rel=0.25) and index["101"]["start"] == 0
    assert index["101"]["flow_mean"][0] > 2 and abs(index["101"]["flow_mean"][1]) < 0.5  # moving right
    assert "clip" in index["102"] and "clip" not in index["101"]  # --save-clips only on shard 1
    # resume: nothing left to do
    assert fyc_main(["prepare", csv_path, "--shard", "0/2", *common]) == 0
    assert "shard 0/2: 0 videos" in capsys.readouterr().out
    # a different clip setting in the same folder is refused
    with pytest.raises(ValueError, match="prepared with"):
        prepare(csv_path, out, spec=ClipSpec(8, 2, 96, 128, start="first"))

    ds = WebVidFolderDataset(csv_path, spec=ClipSpec(6, 2, 96, 128, start="random"), cache_dir=out)
    sample = ds[0]
    assert sample["ofm"] == pytest.approx(index["101"]["ofm"]) and sample["clip_start"] == 0  # cached start
    expected = MotionCache(out).load_index()["101"].load_mask()
    assert np.array_equal(sample["motion_mask"].numpy(), expected)
    assert ds[2]["video_id"] == "106" and dict(ds.skipped) == {"corrupt": 1, "too_short": 1, "missing": 1}
    # 102's clip was cached: the video file is not needed any more
    moved = videos / "pages" / "p7" / "102.mp4"
    moved.rename(moved.with_suffix(".bak"))
    try:
        cached = ds[1]
    finally:
        moved.with_suffix(".bak").rename(moved)
    assert cached["video_id"] == "102" and cached["pixel_values"].shape == (6, 3, 96, 128)
    with pytest.raises(ValueError, match="does not match this dataset"):
        WebVidFolderDataset(csv_path, spec=ClipSpec(6, 4, 96, 128), cache_dir=out)


def test_prepare_tar_shards_split_by_sample(videos, tmp_path):
    out = tmp_path / "cache"
    spec = ClipSpec(6, 2, 96, 128, start="first")
    shards = str(videos / "shards" / "00000.tar")
    counts0 = prepare(shards, out, shard=(0, 2), spec=spec, log=lambda *_: None)
    counts1 = prepare(shards, out, shard=(1, 2), spec=spec, log=lambda *_: None)
    assert counts0 == {"ok": 2} and counts1 == {"corrupt": 1}  # one tar, 2 jobs: samples 0, 2 | 1
    ds = VideoShardDataset(shards, spec=spec, cache_dir=out)
    assert [s["video_id"] for s in ds] == ["v0", "000000002"] and dict(ds.skipped) == {"corrupt": 1}


def test_prepare_with_worker_processes(videos, tmp_path):
    counts = prepare(
        str(videos / "results.csv"),
        tmp_path / "c",
        spec=ClipSpec(6, 2, 96, 128, start="first"),
        workers=2,
        log=lambda *_: None,
    )
    assert counts == {"ok": 3, "corrupt": 1, "too_short": 1, "missing": 1}


def test_raft_weights_select_raft_in_datasets_and_prepare(videos, tmp_path, capsys):
    """Given RAFT weights (random ones here: the values mean nothing, the plumbing does), the datasets and
    `prepare` compute motion with RAFT instead of DIS, and a cache records which estimator made it."""
    from torchvision.models.optical_flow import raft_small

    from fyc import flow

    torch.manual_seed(0)
    weights = tmp_path / "raft_small.pth"
    torch.save(raft_small().state_dict(), weights)
    spec = ClipSpec(num_frames=2, stride=2, height=48, width=64, start="first")
    csv_path = str(videos / "results.csv")
    frames, _ = read_clip(videos / "101.mp4", spec)
    raft = flow.motion_stats(frames, method="raft", raft_weights=weights, device="cpu")
    assert not np.allclose(raft.magnitude, flow.motion_stats(frames).magnitude)  # RAFT and DIS differ here

    ds = WebVidFolderDataset(csv_path, spec=spec, raft_weights=weights)
    sample = ds[0]
    assert sample["ofm"] == pytest.approx(raft.ofm) and np.array_equal(sample["motion_mask"].numpy(), raft.mask)

    out = tmp_path / "cache"
    args = [
        "prepare",
        csv_path,
        "--out",
        str(out),
        "--num-frames",
        "2",
        "--stride",
        "2",
        "--height",
        "48",
        "--width",
        "64",
        "--start",
        "first",
        "--limit",
        "1",
    ]
    assert fyc_main([*args, "--raft-weights", str(weights)]) == 0
    assert MotionCache(out).read_spec()["flow_method"] == "raft"
    entry = MotionCache(out).load_index()["101"]
    assert entry.status == "ok" and entry.ofm == pytest.approx(raft.ofm, abs=1e-4)
    assert np.array_equal(entry.load_mask(), raft.mask)
    # the cache serves datasets that use RAFT too, and is refused by one that would compute DIS
    assert WebVidFolderDataset(csv_path, spec=spec, cache_dir=out, raft_weights=weights)[0]["ofm"] == pytest.approx(
        entry.ofm
    )
    with pytest.raises(ValueError, match="flow_method"):
        WebVidFolderDataset(csv_path, spec=spec, cache_dir=out)
    assert fyc_main([*args, "--flow", "dis", "--raft-weights", str(weights)]) == 2
    assert "drop it to use --flow dis" in capsys.readouterr().out


def test_truncated_tar_shard_does_not_stop_the_run(videos, tmp_path):
    whole = (videos / "shards" / "00000.tar").read_bytes()
    (tmp_path / "a.tar").write_bytes(whole[: len(whole) // 2])  # an interrupted download
    (tmp_path / "b.tar").write_bytes((videos / "shards" / "00001.tar").read_bytes())
    ds = VideoShardDataset([str(tmp_path / "a.tar"), str(tmp_path / "b.tar")], spec=SPEC)
    with pytest.warns(UserWarning, match="ReadError"):
        ids = [s["video_id"] for s in ds]
    assert ids[-1] == "v3" and "v0" in ids  # what was readable of a.tar, then all of b.tar


# -- shard streams for training: split, shuffle, resume ----------------------------------------------------


def stream_ids(ds, num_workers=0):
    if num_workers:
        return [s["video_id"] for s in DataLoader(ds, batch_size=None, num_workers=num_workers)]
    return [s["video_id"] for s in ds]


def test_shard_streams_split_between_processes_and_workers(videos):
    shards = str(videos / "shards" / "{00000..00001}.tar")
    # 2 processes x 1 stream = 2 streams over 2 shards: one shard each, in a shuffled order
    per_rank = []
    for rank in range(2):
        ds = VideoShardDataset(shards, spec=SPEC, seed=1, shuffle_buffer=2, shuffle_shards=True)
        ds.set_distributed(rank, 2)
        per_rank.append(stream_ids(ds))
    assert sorted(per_rank[0] + per_rank[1]) == ["000000002", "v0", "v3"]
    assert {len(ids) for ids in per_rank} == {1, 2}  # whole shards: 2 good videos in one, 1 in the other
    # 2 processes x 2 workers = 4 streams over 2 shards: every stream reads both, keeping its samples
    seen = []
    for rank in range(2):
        ds = VideoShardDataset(shards, spec=SPEC, seed=1, shuffle_buffer=2, shuffle_shards=True)
        ds.set_distributed(rank, 2)
        seen += stream_ids(ds, num_workers=2)
    assert sorted(seen) == ["000000002", "v0", "v3"]  # each sample once over all processes and workers
    with pytest.raises(ValueError, match="rank 2"):
        ds.set_distributed(2, 2)


def test_shard_stream_is_deterministic_and_resumes_after_consumed_samples(videos):
    shards = str(videos / "shards")

    def stream(seed=0):
        return VideoShardDataset(
            shards, spec=ClipSpec(6, 2, 96, 128), seed=seed, repeat=True, shuffle_buffer=3, shuffle_shards=True
        )

    def take(ds, n):
        it = iter(ds)
        return [next(it) for _ in range(n)]

    first = take(stream(), 7)  # more than a pass (3 good videos): passes reshuffle
    again = take(stream(), 7)
    assert [s["video_id"] for s in first] == [s["video_id"] for s in again]
    assert [s["clip_start"] for s in first] == [s["clip_start"] for s in again]
    assert [s["stream_position"][1] for s in first] == [0, 0, 0, 1, 1, 1, 2]  # (stream, epoch, shard, taken)
    orders = {tuple(s["video_id"] for s in take(stream(seed), 3)) for seed in range(6)}
    assert len(orders) > 1  # the seed shuffles
    assert sorted(s["video_id"] for s in first[:3]) == ["000000002", "v0", "v3"]

    # resume just after the 4th sample: the rest comes out as in the uninterrupted stream, clips included
    stream_id, *position = first[3]["stream_position"]
    resumed = stream()
    resumed.resume_from({stream_id: position})
    rest = take(resumed, 3)
    assert [s["video_id"] for s in rest] == [s["video_id"] for s in first[4:]]
    for got, want in zip(rest, first[4:]):
        assert got["clip_start"] == want["clip_start"]
        assert torch.equal(got["pixel_values"], want["pixel_values"])
