"""`python -m fyc prepare`: precompute training clips' motion masks and OFM into a cache, shard by shard.

    python -m fyc prepare videos/results_10M_train.csv --video-dir videos/ --out cache/ --shard 3/64
    python -m fyc prepare "shards/{00000..00999}.tar" --out cache/ --shard $SLURM_ARRAY_TASK_ID/1000 --workers 8

`--shard I/N` makes this job handle only its share, so a cluster job array (I = 0..N-1) splits the work;
every job writes its own `index-I-of-N.jsonl` into the same --out folder (layout: `fyc.data.motion_cache`).
CSV rows go to job k mod N. Tar shards go whole to job j mod N when there are at least N of them (no job
reads another's tars), else samples go to job k mod N. A job that is run again skips the videos its index
already has, so preempted jobs just restart. Corrupt, missing and too-short videos are recorded with their
status and counted; they never stop the job. The datasets in `fyc.data.webvid` read the cache with
`cache_dir=DIR` (same clip settings required).
"""

from __future__ import annotations

import argparse
import json
import time
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

from fyc import flow
from fyc.data.motion_cache import MotionCache, read_jsonl, shard_index_name
from fyc.data.sources import VideoItem, expand_shards, iter_shard_items, read_webvid_csv
from fyc.data.video import ClipSpec, VideoError

MAX_SKIP_LINES = 20  # per run: enough to see what is wrong, not a wall of text for a bad mirror


def parse_shard(text: str) -> tuple[int, int]:
    """ "I/N" -> (I, N) with 0 <= I < N."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like I/N (e.g. 3/64), got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard {text}: need 0 <= I < N")
    return index, count


def shard_items(input_path: str, video_dir, index: int, count: int):
    """This shard's `VideoItem`s of a CSV or of tar shards (see the module docstring for the split)."""
    if str(input_path).lower().endswith(".csv"):
        items = read_webvid_csv(input_path, video_dir)
        yield from items[index::count]
        return
    tars = expand_shards(input_path)
    if len(tars) >= count:
        yield from iter_shard_items(tars[index::count], split_by_worker=False)
        return
    for k, item in enumerate(iter_shard_items(tars, split_by_worker=False)):
        if k % count == index:
            yield item


class _Job:
    """Work on one item, picklable for worker processes."""

    def __init__(self, root: str, spec: ClipSpec, flow_method: str, raft_weights, save_clips: bool, seed: int):
        self.root, self.spec, self.flow_method = root, spec, flow_method
        self.raft_weights, self.save_clips, self.seed = raft_weights, save_clips, seed

    def __call__(self, item: VideoItem) -> dict:
        entry = {"video_id": item.video_id, "caption": item.caption}
        cache = MotionCache(self.root)
        try:
            # crc32, not hash(): str hashes change between processes and runs
            rng = np.random.default_rng((self.seed, zlib.crc32(item.video_id.encode())))
            frames, start = item.read_clip(self.spec, rng=rng)
            f = flow.optical_flow(frames, method=self.flow_method, raft_weights=self.raft_weights)
            stats = flow.stats_from_flow(f)
            scale = np.float32(flow.REFERENCE_WIDTH / f.shape[2])
            flow_mean = (f[:, stats.mask].mean(axis=(0, 1)) * scale) if stats.mask.any() else np.zeros(2)
            entry.update(
                status="ok",
                start=int(start),
                ofm=round(float(stats.ofm), 4),
                mask_fraction=round(float(stats.mask.mean()), 4),
                flow_mean=[round(float(v), 4) for v in flow_mean],
                mask=cache.save_mask(item.video_id, stats.mask),
            )
            if self.save_clips:
                entry["clip"] = cache.save_clip(item.video_id, frames)
        except VideoError as exc:
            entry.update(status=exc.reason, error=str(exc))
        except Exception as exc:  # an unexpected failure on one video must not end a cluster job
            entry.update(status="error", error=f"{type(exc).__name__}: {exc}")
        return entry


def _init_worker():
    import cv2

    cv2.setNumThreads(1)  # one process per core already


def prepare(
    input_path,
    out_dir,
    *,
    video_dir=None,
    shard=(0, 1),
    spec: ClipSpec | None = None,
    flow_method=None,
    raft_weights=None,
    save_clips=False,
    workers=1,
    limit=None,
    seed=0,
    log=print,
) -> Counter:
    """Fill `out_dir` with this shard's motion entries; returns counts by status (and "already").

    `flow_method` defaults to RAFT when `raft_weights` is given, else DIS (`fyc.flow.resolve_method`)."""
    spec = spec or ClipSpec(start="center")
    flow_method = flow.resolve_method(flow_method, raft_weights)
    index, count = shard
    cache = MotionCache(out_dir)
    cache.write_spec(
        {**spec.as_dict(), "start": spec.start, "flow_method": flow_method, "reference_width": flow.REFERENCE_WIDTH}
    )
    index_path = Path(out_dir) / shard_index_name(index, count)
    done = {str(r["video_id"]) for r in read_jsonl(index_path)}
    counts: Counter = Counter()
    job = _Job(str(out_dir), spec, flow_method, raft_weights, save_clips, seed)

    def todo():
        n = 0
        for item in shard_items(input_path, video_dir, index, count):
            if item.video_id in done:
                counts["already"] += 1
                continue
            if limit is not None and n >= limit:
                return
            n += 1
            yield item

    start = time.time()
    ofms = []
    with open(index_path, "a", encoding="utf-8") as out:
        if workers > 1:
            import multiprocessing as mp

            pool = mp.get_context("spawn").Pool(workers, initializer=_init_worker)
            results = pool.imap(job, todo(), chunksize=1)
        else:
            pool, results = None, map(job, todo())
        try:
            for entry in results:
                out.write(json.dumps(entry, ensure_ascii=False) + "\n")
                out.flush()  # a killed job keeps every finished line
                counts[entry["status"]] += 1
                if entry["status"] == "ok":
                    ofms.append(entry["ofm"])
                elif sum(v for k, v in counts.items() if k not in ("ok", "already")) <= MAX_SKIP_LINES:
                    log(f"  skipped {entry['video_id']}: {entry['status']} ({entry.get('error', '')})")
                    if sum(v for k, v in counts.items() if k not in ("ok", "already")) == MAX_SKIP_LINES:
                        log("  (further skipped videos are not listed; the index has every one with its error)")
        finally:
            if pool is not None:
                pool.close()
                pool.join()
    handled = sum(v for k, v in counts.items() if k != "already")
    elapsed = time.time() - start
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    log(
        f"shard {index}/{count}: {handled} videos in {elapsed:.1f}s ({elapsed / max(handled, 1):.2f} s/video) "
        f"-> {index_path} [{summary or 'nothing to do'}]"
        + (f"; OFM mean {np.mean(ofms):.2f}, median {np.median(ofms):.2f}" if ofms else "")
    )
    return counts


def build_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "input",
        help="WebVid-style CSV (with --video-dir) or tar shards: path, folder, glob or "
        "brace range such as 'shards/{00000..00099}.tar'",
    )
    parser.add_argument("--out", required=True, help="cache folder (shared by all shards of a job array)")
    parser.add_argument("--video-dir", default=None, help="folder of the CSV's videos (default: the CSV's folder)")
    parser.add_argument("--shard", default="0/1", help="I/N: handle only the I-th of N parts (default 0/1)")
    parser.add_argument("--num-frames", type=int, default=16, help="frames per clip (default 16)")
    parser.add_argument("--stride", type=int, default=4, help="source-frame stride (default 4)")
    parser.add_argument("--height", type=int, default=256, help="training height (default 256)")
    parser.add_argument("--width", type=int, default=256, help="training width (default 256)")
    parser.add_argument(
        "--start",
        choices=("center", "first", "random"),
        default="center",
        help="where the cached clip starts in each video (default center)",
    )
    parser.add_argument(
        "--flow", choices=flow.METHODS, default=None, help="optical flow (default: raft with --raft-weights, else dis)"
    )
    parser.add_argument(
        "--raft-weights",
        default=None,
        help="torchvision RAFT weights (raft_large or raft_small state dict); selects RAFT",
    )
    parser.add_argument(
        "--save-clips",
        action="store_true",
        help="also store each clip (uint8 .npy) so training "
        "does not decode videos again (about F*H*W*3 bytes per video)",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--limit", type=int, default=None, help="stop after N new videos")
    parser.add_argument("--seed", type=int, default=0, help="seed of --start random")


def run(args) -> int:
    try:
        shard = parse_shard(args.shard)
        spec = ClipSpec(args.num_frames, args.stride, args.height, args.width, start=args.start)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    if args.flow == "raft" and not args.raft_weights:
        print("error: --flow raft needs --raft-weights PATH (torchvision raft_large/raft_small weights)")
        return 2
    if args.raft_weights and args.flow not in (None, "raft"):
        print(f"error: --raft-weights runs RAFT; drop it to use --flow {args.flow}")
        return 2
    prepare(
        args.input,
        args.out,
        video_dir=args.video_dir,
        shard=shard,
        spec=spec,
        flow_method=args.flow,
        raft_weights=args.raft_weights,
        save_clips=args.save_clips,
        workers=args.workers,
        limit=args.limit,
        seed=args.seed,
    )
    return 0
