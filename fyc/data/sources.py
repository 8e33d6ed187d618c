"""Where training videos come from: a WebVid-style CSV next to a folder of videos, or WebDataset tar shards.

Both give `VideoItem`s (an id, a caption and the encoded video, on disk or in memory); the datasets in
`fyc.data.webvid` and `python -m fyc prepare` turn items into clips.

WebVid CSV columns: `videoid, contentUrl, duration, page_dir, name` (`name` is the caption). A video is
looked for as `{video_dir}/{videoid}.mp4`, then `{video_dir}/{page_dir}/{videoid}.mp4` (the layouts of
the common WebVid download scripts); other extensions (.webm, .mkv, .mov) are tried too.

video2dataset shards: tar files whose members share a key, `000000000.mp4` + `000000000.txt` (caption) +
`000000000.json` (metadata with `videoid` or `key` and the source CSV's columns).
"""

from __future__ import annotations

import csv
import glob
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fyc.data.video import ClipSpec, MissingVideoError, read_clip, read_clip_bytes

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".mov", ".avi")
WEBVID_REQUIRED_COLUMNS = ("videoid", "name")


@dataclass
class VideoItem:
    """One source video: its id, caption and where its encoded bytes are."""

    video_id: str
    caption: str
    path: str | None = None  # candidate files on disk, tried in order (see `candidates`)
    data: bytes | None = None  # or the encoded video in memory (tar shards)
    extension: str = ".mp4"
    candidates: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)

    def resolve(self) -> str:
        """The video file on disk; raises `MissingVideoError` naming the places looked at."""
        if self.path and os.path.exists(self.path):
            return self.path
        for candidate in self.candidates:
            if os.path.exists(candidate):
                self.path = candidate
                return candidate
        looked = ", ".join(self.candidates[:4] or ([self.path] if self.path else []))
        raise MissingVideoError(f"no video file for id {self.video_id!r} (looked for {looked})")

    def read_clip(self, spec: ClipSpec, start: int | None = None, rng=None):
        """(frames uint8 (F, H, W, 3), start) of one clip; raises `fyc.data.video.VideoError`."""
        if self.data is not None:
            return read_clip_bytes(self.data, spec, start=start, rng=rng, suffix=self.extension)
        return read_clip(self.resolve(), spec, start=start, rng=rng)


def read_webvid_csv(csv_path, video_dir=None) -> list[VideoItem]:
    """Items of a WebVid-style CSV; `video_dir` defaults to the CSV's folder. Files are checked lazily."""
    csv_path = Path(csv_path)
    video_dir = Path(video_dir) if video_dir is not None else csv_path.parent
    items = []
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in WEBVID_REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(
                f"{csv_path} lacks the WebVid column(s) {missing}; expected videoid, contentUrl, duration, "
                f"page_dir, name (name = caption). Found: {reader.fieldnames}."
            )
        for row in reader:
            video_id = (row.get("videoid") or "").strip()
            if not video_id:
                continue
            page_dir = (row.get("page_dir") or "").strip()
            folders = [video_dir] + ([video_dir / page_dir] if page_dir else [])
            candidates = tuple(str(d / f"{video_id}{ext}") for ext in VIDEO_EXTENSIONS for d in folders)
            meta = {k: v for k, v in row.items() if k not in ("videoid", "name") and k is not None}
            items.append(VideoItem(video_id, (row.get("name") or "").strip(), candidates=candidates, meta=meta))
    return items


def expand_shards(shards) -> list[str]:
    """Shard list from a path, a directory (its *.tar), a glob, a brace range ("a-{000..009}.tar") or a list."""
    if isinstance(shards, (list, tuple)):
        return [s for spec in shards for s in expand_shards(spec)]
    spec = os.fspath(shards)
    if os.path.isdir(spec):
        found = sorted(glob.glob(os.path.join(spec, "*.tar")))
        if not found:
            raise FileNotFoundError(f"no .tar shards in folder {spec}")
        return found
    match = re.search(r"\{(\d+)\.\.(\d+)\}", spec)
    if match:
        lo, hi = match.groups()
        width = len(lo)
        return [
            s
            for i in range(int(lo), int(hi) + 1)
            for s in expand_shards(spec[: match.start()] + str(i).zfill(width) + spec[match.end() :])
        ]
    if any(ch in spec for ch in "*?["):
        found = sorted(glob.glob(spec))
        if not found:
            raise FileNotFoundError(f"no shards match {spec}")
        return found
    if "://" in spec or spec.startswith("pipe:"):
        return [spec]  # remote or piped shards, opened by webdataset
    if not os.path.exists(spec):
        raise FileNotFoundError(f"shard not found: {spec}")
    return [spec]


def _item_from_sample(sample: dict) -> VideoItem | None:
    video_key = next((k for k in VIDEO_EXTENSIONS if k[1:] in sample), None)
    key = sample.get("__key__", "")
    meta = {}
    if "json" in sample:
        try:
            meta = json.loads(sample["json"])
        except (ValueError, UnicodeDecodeError):
            meta = {}
    caption = sample["txt"].decode("utf-8", "replace").strip() if "txt" in sample else ""
    caption = caption or str(meta.get("caption") or meta.get("name") or "")
    video_id = str(meta.get("videoid") or meta.get("key") or os.path.basename(key))
    meta["__url__"] = sample.get("__url__", "")
    return VideoItem(
        video_id,
        caption,
        data=sample[video_key[1:]] if video_key else b"",
        extension=video_key or ".mp4",
        meta=meta,
    )


def iter_shard_items(shards, split_by_node: bool = False, split_by_worker: bool = True) -> Iterator[VideoItem]:
    """Items of WebDataset tar shards in order. Unreadable tar members are warned about and passed over.

    A sample without a video member yields an item with empty `data`, which reads as corrupt.
    """
    import webdataset as wds

    urls = expand_shards(shards)
    dataset = wds.WebDataset(
        urls,
        shardshuffle=False,
        handler=wds.warn_and_continue,
        nodesplitter=wds.split_by_node if split_by_node else (lambda src: src),
        workersplitter=wds.split_by_worker if split_by_worker else (lambda src: src),
        empty_check=False,
    )
    for sample in dataset:
        yield _item_from_sample(sample)
