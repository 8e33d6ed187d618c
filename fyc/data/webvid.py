"""Torch datasets of training clips with motion masks, OFM and motion prompts.

    from fyc.data.webvid import WebVidFolderDataset, VideoShardDataset, ClipSpec
    spec = ClipSpec(num_frames=16, stride=4, height=256, width=256)
    ds = WebVidFolderDataset("videos/results_2M_val.csv", "videos/", spec, captions="webvid_motion.jsonl")
    ds = VideoShardDataset("shards/{00000..00099}.tar", spec, cache_dir="motion_cache/")

Each sample is a dict:
    pixel_values   float32 tensor (F, 3, H, W) in [-1, 1]
    caption        the source caption (stage 1 text)
    motion_prompt  short motion phrase (stage 2): from the captions JSONL of `python -m fyc captions`
                   when it has the video, else the offline rule-based extractor
    motion_mask    bool tensor (H, W): union of the binarised flow magnitude (`fyc.flow`)
    ofm            float: optical-flow magnitude in px/frame at 256-px reference width (`fyc.flow`)
    video_id       str;  clip_start  int (first source frame);  skipped  int (bad videos passed over
                   to produce this sample: sum it over batches for a run's count, whatever the workers;
                   bad videos after the last sample of a finite pass are only in `dataset.skipped`)
    stream_position  (VideoShardDataset only) (stream, epoch, shard ordinal, taken): where the sample's
                   stream stands just after it; what `VideoShardDataset.resume_from` takes

Motion comes from the cache of `python -m fyc prepare` (`cache_dir`) when it has the video, with the clip
start it was computed for, else it is computed on the fly from the clip. Corrupt, missing and too-short
videos are skipped, counted in `dataset.skipped` (per process) and logged; they never stop a run.
"""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset

from fyc import flow
from fyc.data.motion_cache import MotionCache
from fyc.data.sources import VideoItem, expand_shards, iter_shard_items, read_webvid_csv
from fyc.data.video import ClipSpec, VideoError, to_pixel_values

logger = logging.getLogger(__name__)

__all__ = ["ClipSpec", "ClipBuilder", "WebVidFolderDataset", "VideoShardDataset"]


def _load_motion_prompts(captions) -> dict[str, str]:
    if captions is None:
        return {}
    if isinstance(captions, dict):
        return {str(k): str(v) for k, v in captions.items()}
    from fyc.data.captions import load_motion_prompts

    return load_motion_prompts(captions)


class ClipBuilder:
    """Turns a `VideoItem` into a training sample dict; shared by both datasets and `prepare`.

    Args:
        spec: clip frames, stride, size, start rule.
        captions: JSONL written by `python -m fyc captions` (or a dict video_id -> motion phrase).
        cache_dir: motion cache written by `python -m fyc prepare` with the same spec and flow method.
        flow_method / raft_weights: optical flow estimator for motion computed on the fly (`fyc.flow`);
            by default RAFT when `raft_weights` is given, else DIS.
    """

    def __init__(
        self, spec: ClipSpec | None = None, captions=None, cache_dir=None, flow_method=None, raft_weights=None
    ):
        self.spec = spec or ClipSpec()
        self.flow_method = flow.resolve_method(flow_method, raft_weights)
        self.raft_weights = raft_weights
        self.motion_prompts = _load_motion_prompts(captions)
        self.cache = {}
        if cache_dir is not None:
            cache = MotionCache(cache_dir)
            cache.check_spec(self.cache_spec())
            self.cache = cache.load_index()
        self.skipped: Counter = Counter()
        self._warned = 0

    def cache_spec(self) -> dict:
        """What a motion cache must have been made with to serve this builder."""
        return {**self.spec.as_dict(), "flow_method": self.flow_method, "reference_width": flow.REFERENCE_WIDTH}

    def motion_prompt(self, item: VideoItem) -> str:
        prompt = self.motion_prompts.get(item.video_id)
        if prompt is None:
            from fyc.data.caption_rules import extract_motion

            prompt = extract_motion(item.caption).motion
        return prompt

    def motion(self, frames: np.ndarray) -> flow.MotionStats:
        return flow.motion_stats(frames, method=self.flow_method, raft_weights=self.raft_weights)

    def build(self, item: VideoItem, rng: np.random.Generator | None = None) -> dict:
        """The sample dict of one item; raises `VideoError` for a video that cannot give a clip."""
        cached = self.cache.get(item.video_id)
        if cached is not None and cached.status != "ok":
            err = VideoError(f"{item.video_id}: marked {cached.status} by prepare ({cached.error})")
            err.reason = cached.status
            raise err
        if cached is not None:
            frames = cached.load_clip()
            start = cached.start
            if frames is None:
                frames, start = item.read_clip(self.spec, start=cached.start)
            mask, ofm = cached.load_mask(), float(cached.ofm)
        else:
            frames, start = item.read_clip(self.spec, rng=rng)
            stats = self.motion(frames)
            mask, ofm = stats.mask, stats.ofm
        return {
            "pixel_values": to_pixel_values(frames),
            "caption": item.caption,
            "motion_prompt": self.motion_prompt(item),
            "motion_mask": torch.from_numpy(np.ascontiguousarray(mask, dtype=bool)),
            "ofm": float(ofm),
            "video_id": item.video_id,
            "clip_start": int(start),
        }

    def record_skip(self, item: VideoItem, error: Exception) -> None:
        reason = getattr(error, "reason", "error")
        self.skipped[reason] += 1
        if self._warned < 20:  # enough to see what is wrong without flooding a long run's log
            self._warned += 1
            logger.warning("skipping video %s (%s): %s", item.video_id, reason, error)

    @property
    def num_skipped(self) -> int:
        return sum(self.skipped.values())


class _ClipBuilderViews:
    """`spec`, `skipped` and `num_skipped` of a dataset's `self.builder` (a `ClipBuilder`)."""

    builder: ClipBuilder

    @property
    def spec(self) -> ClipSpec:
        return self.builder.spec

    @property
    def skipped(self) -> Counter:
        return self.builder.skipped

    @property
    def num_skipped(self) -> int:
        return self.builder.num_skipped


class WebVidFolderDataset(_ClipBuilderViews, Dataset):
    """Clips from a folder of videos described by a CSV in WebVid's columns (map-style).

    A bad video at index i is skipped by moving on to i+1, i+2, ... (at most `max_skips` times), so
    every index yields a sample; bad indices are remembered so they are decoded only once per process.
    The random clip start depends on (seed, epoch, index): call `set_epoch` each epoch for new clips.

    Args:
        csv_path: CSV with columns videoid, contentUrl, duration, page_dir, name (name = caption).
        video_dir: folder holding {videoid}.mp4 or {page_dir}/{videoid}.mp4 (default: the CSV's folder).
        spec, captions, cache_dir, flow_method, raft_weights: see `ClipBuilder`.
        seed: seed of the clip-start draws.
        max_skips: bad videos in a row after which a `RuntimeError` says the data is unusable.
    """

    def __init__(
        self,
        csv_path,
        video_dir=None,
        spec: ClipSpec | None = None,
        *,
        captions=None,
        cache_dir=None,
        flow_method=None,
        raft_weights=None,
        seed: int = 0,
        max_skips: int = 50,
    ):
        self.items = read_webvid_csv(csv_path, video_dir)
        self.builder = ClipBuilder(spec, captions, cache_dir, flow_method, raft_weights)
        self.seed, self.epoch, self.max_skips = seed, 0, max_skips
        self._bad: set[int] = set()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        if not self.items:
            raise IndexError("the dataset's CSV has no rows")
        newly_skipped = 0
        for offset in range(min(self.max_skips, len(self.items)) + 1):
            i = (index + offset) % len(self.items)
            if i in self._bad:
                continue
            item = self.items[i]
            try:
                sample = self.builder.build(item, rng=np.random.default_rng((self.seed, self.epoch, i)))
            except VideoError as exc:
                self._bad.add(i)
                newly_skipped += 1
                self.builder.record_skip(item, exc)
                continue
            sample["skipped"] = newly_skipped
            return sample
        raise RuntimeError(
            f"{self.max_skips} videos in a row from index {index} could not be read "
            f"(skipped so far: {dict(self.skipped)}); check the video folder and the CSV's videoid column."
        )


class VideoShardDataset(_ClipBuilderViews, IterableDataset):
    """Clips from WebDataset tar shards as written by video2dataset (iterable).

    The data is read as independent *streams*, one per (process, DataLoader worker): with P processes and
    W workers (W = 1 without workers) there are S = P * W streams, numbered rank * W + worker. In every pass
    (epoch) the shard order is reshuffled by (seed, epoch) when `shuffle_shards` is set, then shards are dealt
    out to the streams round-robin, so within a pass no two streams read the same sample. With fewer shards
    than streams, every stream reads every shard and keeps the samples whose index in the shard is its own
    modulo S. A shuffle buffer of `shuffle_buffer` samples mixes each shard's samples (it holds encoded
    videos: about 1-3 MB each for WebVid); it starts afresh with each shard so that a stream's position is
    (epoch, shard ordinal, samples taken from the shard) and resuming re-reads at most one shard.

    Everything a stream yields is a function of (seed, epoch, stream, shard ordinal, position), including
    each clip's random start, so the same settings give the same samples in the same order on any run.
    Each sample carries `stream_position = (stream, epoch, shard_ordinal, taken)`, the point just after it;
    `resume_from` makes streams continue from such points, skipping what was consumed without decoding it.

    Args:
        shards: a tar path, folder of tars, glob, brace range ("shards/{00000..00099}.tar") or a list.
        spec, captions, cache_dir, flow_method, raft_weights: see `ClipBuilder`.
        seed: seed of shard order, shuffle buffer and clip starts.
        repeat: start a new pass after the last shard (for step-based training); else stop.
        split_by_node: take rank and world size from `torch.distributed` (when `set_distributed` was not
            called); leave it off when Accelerate dispatches batches from the main process.
        shuffle_buffer: samples held for shuffling (0 or 1: read in shard order).
        shuffle_shards: reshuffle the shard order every pass.
    """

    def __init__(
        self,
        shards,
        spec: ClipSpec | None = None,
        *,
        captions=None,
        cache_dir=None,
        flow_method=None,
        raft_weights=None,
        seed: int = 0,
        repeat: bool = False,
        split_by_node: bool = False,
        shuffle_buffer: int = 0,
        shuffle_shards: bool = False,
    ):
        self.shards = shards
        self.urls = expand_shards(shards)
        self.builder = ClipBuilder(spec, captions, cache_dir, flow_method, raft_weights)
        self.seed, self.epoch, self.repeat, self.split_by_node = seed, 0, repeat, split_by_node
        self.shuffle_buffer, self.shuffle_shards = int(shuffle_buffer), bool(shuffle_shards)
        self.rank: int | None = None
        self.world_size: int | None = None
        self.positions: dict[int, tuple[int, int, int]] = {}
        self.worker_offset = 0

    def set_epoch(self, epoch: int) -> None:
        """The pass that streams without a resume position start in."""
        self.epoch = epoch

    def set_distributed(self, rank: int, world_size: int) -> None:
        """This process's rank among `world_size` processes that each read their own part of the data."""
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        self.rank, self.world_size = rank, world_size

    def resume_from(self, positions: dict[int, tuple[int, int, int]], worker_offset: int = 0) -> None:
        """Continue streams from `stream_position`s: {stream: (epoch, shard_ordinal, taken)}.

        `worker_offset` rotates which stream each DataLoader worker reads (worker w reads local stream
        (w + offset) % W), so that after n consumed batches the loader, which starts with worker 0, goes on
        with the stream an uninterrupted run would have used next: pass n % W.
        """
        self.positions = {int(k): tuple(int(x) for x in v) for k, v in positions.items()}
        self.worker_offset = int(worker_offset)

    def _rank_world(self) -> tuple[int, int]:
        if self.rank is not None:
            return self.rank, self.world_size
        if self.split_by_node and torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def stream_shards(self, epoch: int, stream: int, num_streams: int) -> tuple[list[str], int | None]:
        """Shards a stream reads in a pass, in order, and the sample residue it keeps (None: all samples)."""
        n = len(self.urls)
        order = np.random.default_rng((self.seed, epoch)).permutation(n) if self.shuffle_shards else np.arange(n)
        if n >= num_streams:
            return [self.urls[i] for i in order[stream::num_streams]], None
        return [self.urls[i] for i in order], stream

    def _shard_items(self, url: str, keep: int | None, num_streams: int):
        items = iter_shard_items(url, split_by_worker=False)
        if keep is None:
            return items
        return (item for i, item in enumerate(items) if i % num_streams == keep)

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        rank, world = self._rank_world()
        num_streams = world * workers
        stream = rank * workers + (worker + self.worker_offset) % workers
        epoch, first_shard, skip = self.positions.get(stream, (self.epoch, 0, 0))
        newly_skipped = 0  # carried over shard and pass boundaries
        while True:
            whole_pass = first_shard == 0 and skip == 0
            produced = False
            shards, keep = self.stream_shards(epoch, stream, num_streams)
            for ordinal in range(first_shard, len(shards)):
                items = self._shard_items(shards[ordinal], keep, num_streams)
                rng = np.random.default_rng((self.seed, epoch, stream, ordinal))
                for taken, item in enumerate(shuffled(items, self.shuffle_buffer, rng), start=1):
                    if ordinal == first_shard and taken <= skip:
                        continue  # consumed before the resume point: read, not decoded
                    clip_rng = np.random.default_rng((self.seed, epoch, stream, ordinal, taken))
                    try:
                        sample = self.builder.build(item, rng=clip_rng)
                    except VideoError as exc:
                        newly_skipped += 1
                        self.builder.record_skip(item, exc)
                        continue
                    sample["skipped"] = newly_skipped
                    sample["stream_position"] = (stream, epoch, ordinal, taken)
                    newly_skipped = 0
                    produced = True
                    yield sample
            first_shard, skip = 0, 0
            if not self.repeat:
                return
            if whole_pass and not produced:
                logger.warning(
                    "no usable video for stream %d of %d in %s; stopping instead of looping forever",
                    stream,
                    num_streams,
                    self.shards,
                )
                return
            epoch += 1


def shuffled(items, buffer_size: int, rng: np.random.Generator):
    """`items` in the order of a shuffle buffer of `buffer_size` drawing from `rng` (as given if size <= 1)."""
    if buffer_size <= 1:
        yield from items
        return
    buffer = []
    for item in items:
        if len(buffer) < buffer_size:
            buffer.append(item)
            continue
        i = int(rng.integers(buffer_size))
        yield buffer[i]
        buffer[i] = item
    while buffer:
        i = int(rng.integers(len(buffer)))
        buffer[i], buffer[-1] = buffer[-1], buffer[i]
        yield buffer.pop()
