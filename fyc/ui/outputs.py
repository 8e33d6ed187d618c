"""Where generated videos are written, and how they are cleaned up.

Each run writes into its own folder under one per-process temporary directory (inside the system temp
directory, which Gradio is allowed to serve from). Gradio copies returned files into its own cache
(which `app.py` expires with `delete_cache`), so our copies are only needed until the event returns:
a session's previous run is deleted when it generates again, runs older than `max_age_s` are pruned at
every new run, and the whole directory is removed when the process exits.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path


class OutputFiles:
    """A per-process scratch directory for generated videos."""

    def __init__(self, root: str | Path | None = None, max_age_s: float = 15 * 60):
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="fyc-app-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        atexit.register(self.cleanup)

    def new_run(self) -> Path:
        """A fresh, empty folder for one run's files (prunes expired runs first)."""
        self.prune()
        folder = self.root / uuid.uuid4().hex
        folder.mkdir()
        return folder

    def prune(self, max_age_s: float | None = None) -> int:
        """Delete run folders older than `max_age_s`; returns how many were deleted."""
        max_age_s = self.max_age_s if max_age_s is None else max_age_s
        cutoff = time.time() - max_age_s
        removed = 0
        with self._lock:
            for folder in self.root.iterdir() if self.root.exists() else ():
                try:
                    if folder.stat().st_mtime < cutoff:
                        shutil.rmtree(folder, ignore_errors=True)
                        removed += 1
                except FileNotFoundError:
                    pass
        return removed

    def discard(self, paths) -> None:
        """Delete the run folders holding `paths` (a session's previous outputs)."""
        for path in paths:
            folder = Path(path).parent
            if folder.parent == self.root:
                shutil.rmtree(folder, ignore_errors=True)

    def cleanup(self) -> None:
        """Remove the whole scratch directory."""
        shutil.rmtree(self.root, ignore_errors=True)
