"""The precomputed motion cache written by `python -m fyc prepare` and read by the datasets.

Layout of a cache folder:

    spec.json                          clip spec + flow method it was made with (all shards must agree)
    index-00003-of-00016.jsonl         one line per source video handled by shard 3 of 16:
        {"video_id", "status": "ok" | "corrupt" | "too_short" | "missing" | "error", "start", "ofm",
         "mask": "masks/ab/<id>.png", "clip": "clips/ab/<id>.npy" (with --save-clips), "caption", "error"}
    masks/<2 hex>/<id>.png             motion mask at the clip's training size (0/255 PNG)
    clips/<2 hex>/<id>.npy             the clip itself, uint8 (F, H, W, 3), so training skips decoding

Files are spread over 256 sub-folders so that a cache of millions of videos stays listable.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

CACHE_VERSION = 1
SPEC_FILE = "spec.json"


def shard_index_name(index: int, count: int) -> str:
    return f"index-{index:05d}-of-{count:05d}.jsonl"


def _file_stem(video_id: str) -> tuple[str, str]:
    digest = hashlib.sha1(video_id.encode("utf-8")).hexdigest()
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", video_id)[:100]
    if safe != video_id:
        safe = f"{safe}-{digest[:8]}"  # keep ids that differ only in unsafe characters apart
    return digest[:2], safe


@dataclass
class CachedMotion:
    """What the cache knows about one video."""

    video_id: str
    status: str
    start: int | None = None
    ofm: float | None = None
    mask_path: str | None = None
    clip_path: str | None = None
    error: str = ""

    def load_mask(self) -> np.ndarray:
        mask = cv2.imread(self.mask_path, cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise FileNotFoundError(f"motion mask missing from the cache: {self.mask_path}")
        return mask > 127

    def load_clip(self) -> np.ndarray | None:
        if not self.clip_path or not os.path.exists(self.clip_path):
            return None
        return np.load(self.clip_path, allow_pickle=False)


class MotionCache:
    """Read and write a motion cache folder (see the module docstring)."""

    def __init__(self, root):
        self.root = Path(root)

    # spec ----------------------------------------------------------------------------------------
    def read_spec(self) -> dict | None:
        path = self.root / SPEC_FILE
        return json.loads(path.read_text()) if path.exists() else None

    def write_spec(self, spec: dict) -> None:
        """Record the spec, or check it matches the one already there (another shard of the same job)."""
        spec = {"version": CACHE_VERSION, **spec}
        existing = self.read_spec()
        if existing is not None:
            if existing != spec:
                raise ValueError(
                    f"{self.root} was prepared with {existing}, this run asks for {spec}. "
                    "Use another --out folder or the same clip settings."
                )
            return
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{SPEC_FILE}.{os.getpid()}"
        tmp.write_text(json.dumps(spec, indent=1, sort_keys=True))
        os.replace(tmp, self.root / SPEC_FILE)  # atomic: array jobs may start at the same moment

    def check_spec(self, spec: dict) -> None:
        """Raise if the cache was made for other clips than `spec` (frames, stride, size, flow)."""
        existing = self.read_spec()
        if existing is None:
            raise FileNotFoundError(f"{self.root} is not a motion cache (no {SPEC_FILE}); run `python -m fyc prepare`.")
        differs = {k: (existing.get(k), v) for k, v in spec.items() if existing.get(k) != v}
        if differs:
            raise ValueError(
                f"motion cache {self.root} does not match this dataset: {differs} (cache, dataset). "
                "Re-run `python -m fyc prepare` with the dataset's clip settings, or drop cache_dir."
            )

    # entries -------------------------------------------------------------------------------------
    def mask_path(self, video_id: str) -> Path:
        sub, stem = _file_stem(video_id)
        return self.root / "masks" / sub / f"{stem}.png"

    def clip_path(self, video_id: str) -> Path:
        sub, stem = _file_stem(video_id)
        return self.root / "clips" / sub / f"{stem}.npy"

    def save_mask(self, video_id: str, mask: np.ndarray) -> str:
        path = self.mask_path(video_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), mask.astype(np.uint8) * 255):
            raise OSError(f"could not write {path}")
        return str(path.relative_to(self.root))

    def save_clip(self, video_id: str, frames: np.ndarray) -> str:
        path = self.clip_path(video_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, np.ascontiguousarray(frames, dtype=np.uint8))
        os.replace(tmp, path)
        return str(path.relative_to(self.root))

    def index_files(self) -> list[str]:
        return sorted(glob.glob(str(self.root / "index-*-of-*.jsonl")))

    def load_index(self) -> dict[str, CachedMotion]:
        """All entries of all shards, by video id (a later line for the same id wins)."""
        entries = {}
        for path in self.index_files():
            for record in read_jsonl(path):
                entries[str(record["video_id"])] = CachedMotion(
                    video_id=str(record["video_id"]),
                    status=record.get("status", "error"),
                    start=record.get("start"),
                    ofm=record.get("ofm"),
                    mask_path=str(self.root / record["mask"]) if record.get("mask") else None,
                    clip_path=str(self.root / record["clip"]) if record.get("clip") else None,
                    error=record.get("error", ""),
                )
        return entries


def read_jsonl(path) -> list[dict]:
    """Records of a JSONL file; a torn last line (a job killed mid-write) is ignored."""
    records = []
    if not os.path.exists(path):
        return records
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records
