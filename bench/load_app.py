"""Load test of the app's `/animate` API: N gradio_client visitors on loopback, for a bounded number of requests
or time. Reports throughput, p50/p95 latency, errors, the server's peak memory and its RSS curve request by
request (it must level off: no pipelines, embeddings or temporary files kept per request), and the temporary
files left. Writes a markdown report.

By default it starts `python app.py` itself, serving the *tiny* random pipeline of `tests/tiny.py` with the
classical segmenter (CPU generation with the demo model is far slower; the tiny one measures the server, its
queue and its memory, not the model). Prints figures; asserts nothing.

    python bench/load_app.py [--clients 8] [--requests 50] [--max-seconds 600] [--steps 1] [--frames 4]
                             [--url URL --pid PID] [--out docs/results/load_app.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import numpy as np
from machine import cpu_name

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # app_server.py, tiny.py


def make_images(folder: Path) -> list[tuple[Path, str]]:
    """Three uploads of different sizes and formats, each with a click on its bright disk."""
    from PIL import Image

    images = []
    for width, height, suffix in ((96, 64, ".png"), (640, 480, ".jpg"), (1600, 1200, ".jpg")):
        yy, xx = np.mgrid[:height, :width]
        image = np.stack([xx * 200 // width, yy * 200 // height, np.full_like(xx, 60)], -1).astype(np.uint8)
        cx, cy, r = width * 0.35, height * 0.5, min(width, height) * 0.2
        image[(xx - cx) ** 2 + (yy - cy) ** 2 < r**2] = (250, 230, 60)
        path = folder / f"scene_{width}x{height}{suffix}"
        Image.fromarray(image).save(path, quality=90)
        images.append((path, json.dumps([{"points": [[int(cx), int(cy), 1]], "prompt": "sway"}])))
    return images


class RssSampler:
    """Samples a process's RSS every `interval` seconds, with how many requests had completed by then."""

    def __init__(self, pid: int | None, completed, interval: float = 0.25):
        self.pid, self.completed, self.interval = pid, completed, interval
        self.samples: list[tuple[float, int, int]] = []  # (seconds, completed requests, rss bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._start = time.perf_counter()

    def rss(self) -> int | None:
        if self.pid is None:
            return None
        try:
            import psutil

            return psutil.Process(self.pid).memory_info().rss
        except ImportError:
            with open(f"/proc/{self.pid}/status") as status:
                return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
        except Exception:  # noqa: BLE001 - the server went away: stop sampling
            return None

    def peak(self) -> int | None:
        """The kernel's high-water mark of the RSS (VmHWM) where available, else the largest sample."""
        try:
            with open(f"/proc/{self.pid}/status") as status:
                return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
        except (OSError, StopIteration, TypeError):
            return max((rss for *_, rss in self.samples), default=None)

    def _run(self):
        while not self._stop.is_set():
            rss = self.rss()
            if rss is not None:
                self.samples.append((time.perf_counter() - self._start, self.completed(), rss))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def rss_after_each_request(samples, total: int) -> list[int | None]:
    """RSS right after request k completed (the first sample at which k requests were done), k = 1..total."""
    curve, i = [], 0
    for k in range(1, total + 1):
        while i < len(samples) and samples[i][1] < k:
            i += 1
        curve.append(samples[i][2] if i < len(samples) else None)
    return curve


def run_load(
    url: str, images, clients: int, requests: int, max_seconds: float, steps: int, frames: int, sampler_pid: int | None
):
    from gradio_client import Client, handle_file

    lock = threading.Lock()
    issued = [0]
    results: list[dict] = []  # {"client", "latency", "ok", "error"}
    deadline = time.perf_counter() + max_seconds

    def next_request() -> int | None:
        with lock:
            if issued[0] >= requests or time.perf_counter() > deadline:
                return None
            issued[0] += 1
            return issued[0]

    def visitor(number: int):
        client = Client(url, verbose=False)  # one session per visitor, as separate browsers would have
        while (index := next_request()) is not None:
            image, regions = images[index % len(images)]
            start = time.perf_counter()
            try:
                client.predict(
                    handle_file(str(image)), regions, 6.0, index, steps, frames, 8, True, api_name="/animate"
                )
                ok, error = True, None
            except Exception as exc:  # noqa: BLE001 - counted and reported
                ok, error = False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
            with lock:
                results.append(
                    {
                        "client": number,
                        "latency": time.perf_counter() - start,
                        "ok": ok,
                        "error": error,
                        "done_at": time.perf_counter(),
                    }
                )

    with RssSampler(sampler_pid, lambda: len(results)) as sampler:
        start = time.perf_counter()
        threads = [threading.Thread(target=visitor, args=(n,)) for n in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - start
        time.sleep(0.5)  # one more RSS sample after the last request
    return results, wall, sampler


def folder_stats(folder: Path | None) -> tuple[int, int]:
    """(files, bytes) under `folder`."""
    if folder is None or not folder.exists():
        return 0, 0
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def report(args, results, wall, sampler, machine: str, temp: dict) -> str:
    ok = [r for r in results if r["ok"]]
    latencies = sorted(r["latency"] for r in ok)
    errors = Counter(r["error"] for r in results if not r["ok"])
    quantile = lambda q: latencies[min(len(latencies) - 1, int(round(q * (len(latencies) - 1))))]  # noqa: E731
    curve = rss_after_each_request(sampler.samples, len(results))
    mb = lambda b: f"{b / 2**20:.0f}" if b is not None else "n/a"  # noqa: E731
    known = [(k, rss) for k, rss in enumerate(curve, start=1) if rss is not None]

    # Growth after warm-up: slope of RSS against the request count over the second half, and the change between
    # the first and last tenth of the run after the first 10 requests.
    verdict = "not measured (needs the server's PID and at least 20 requests)"
    slope_kb = None
    if len(known) >= 20:
        half = known[len(known) // 2 :]
        x = np.array([k for k, _ in half], float)
        y = np.array([rss for _, rss in half], float)
        slope_kb = float(np.polyfit(x, y, 1)[0]) / 1024
        after_warmup = [rss for k, rss in known if k > 10]
        tenth = max(3, len(after_warmup) // 10)
        early, late = statistics.median(after_warmup[:tenth]), statistics.median(after_warmup[-tenth:])
        verdict = (
            f"RSS {mb(early)} MB just after warm-up (requests 11–{10 + tenth}), {mb(late)} MB over the last "
            f"{tenth} requests ({(late - early) / 2**20:+.0f} MB); slope over the second half "
            f"{slope_kb:+.0f} kB per request"
        )

    lines = [
        f"## {args.clients} visitors, {len(results)} requests — {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {machine}.",
        "",
        "    " + " ".join(["python bench/load_app.py", *sys.argv[1:]]),
        "",
        f"Settings: {args.clients} concurrent gradio_client visitors (one session each), {len(results)} requests "
        f"(limit {args.requests} requests or {args.max_seconds:g} s), {args.steps} denoising step(s), "
        f"{args.frames} frames, uploads cycling through 96×64 PNG, 640×480 JPEG and 1600×1200 JPEG.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| requests completed / failed | {len(ok)} / {len(results) - len(ok)} |",
        f"| wall time | {wall:.1f} s |",
        f"| throughput | {len(ok) / wall:.2f} requests/s |",
        "| latency p50 / p95 / max (queueing included) | "
        + (f"{quantile(0.5):.2f} / {quantile(0.95):.2f} / {latencies[-1]:.2f} s |" if latencies else "n/a |"),
        f"| server RSS when the load started | {mb(sampler.samples[0][2] if sampler.samples else None)} MB |",
        f"| server peak RSS (VmHWM) | {mb(sampler.peak())} MB |",
        f"| server RSS after the last request | {mb(known[-1][1] if known else None)} MB |",
        f"| memory growth | {verdict} |",
        f"| app scratch videos left (pruned after 15 min) | {temp['scratch'][0]} files, "
        f"{temp['scratch'][1] / 2**20:.1f} MB |",
        f"| Gradio cache left (uploads and outputs, expired after 1 h) | {temp['gradio'][0]} files, "
        f"{temp['gradio'][1] / 2**20:.1f} MB |",
        "",
    ]
    if errors:
        lines += ["Errors:", ""] + [f"- {count} × {message}" for message, count in errors.most_common()] + [""]
    lines += [
        "RSS of the server after request k (MB):",
        "",
        "| k | " + " | ".join(str(k) for k, _ in known[:: max(1, len(known) // 12)]) + " |",
    ]
    picked = known[:: max(1, len(known) // 12)]
    lines += ["|---" * (len(picked) + 1) + "|", "| RSS | " + " | ".join(mb(rss) for _, rss in picked) + " |", ""]
    lines += ["Full curve (request: MB): " + ", ".join(f"{k}: {mb(rss)}" for k, rss in known), ""]
    return "\n".join(lines)


INTRO = """# Load test of the `/animate` API

Measured with `bench/load_app.py`. The server is `python app.py` on loopback serving the **tiny random pipeline**
of `tests/tiny.py` (64-px native size) with the classical segmenter: it measures the server, its queue and its
memory, not the model (CPU generation with the demo model is far slower). One generation runs at a time
(`GENERATION_CONCURRENCY = 1`); the other visitors wait in Gradio's queue, so latency includes queueing.
Memory is the server process's resident set (psutil), sampled every 0.25 s; "after request k" is the first sample
taken once k requests had completed; the peak is the kernel's high-water mark (VmHWM).
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=50, help="stop after this many requests (default 50)")
    parser.add_argument("--max-seconds", type=float, default=600, help="or after this long (default 600)")
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument(
        "--url", default=None, help="an app already running (default: start one with the tiny pipeline)"
    )
    parser.add_argument("--pid", type=int, default=None, help="its process id, for memory figures (with --url)")
    parser.add_argument(
        "--out", type=Path, default=None, help="write the markdown report here (e.g. docs/results/load_app.md)"
    )
    parser.add_argument("--append", action="store_true", help="add this run to --out instead of replacing it")
    args = parser.parse_args(argv)

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    machine = (
        f"{cpu_name()}, {os.cpu_count()} cores (shared with other work; load average {load[0]:.1f} at the start)"
        if load
        else f"{cpu_name()}, {os.cpu_count()} cores"
    )
    machine += f", Python {platform.python_version()}"

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fyc-load-")))
        images = make_images(tmp)
        scratch = gradio_dir = None
        url, pid = args.url, args.pid
        if url is None:
            import psutil
            from app_server import running_app

            scratch = tmp / "scratch"
            scratch.mkdir()
            gradio_dir = tmp / "gradio"
            print("starting python app.py with the tiny pipeline…", flush=True)
            url = stack.enter_context(running_app(tmp, env={"TMPDIR": str(scratch)}))
            port = url.rstrip("/").rsplit(":", 1)[1]
            pid = next(
                p.pid
                for p in psutil.Process().children(recursive=True)
                if "app.py" in " ".join(p.cmdline()) and port in p.cmdline()
            )
        print(f"{args.clients} clients → {url} (server pid {pid}); up to {args.requests} requests", flush=True)
        results, wall, sampler = run_load(
            url, images, args.clients, args.requests, args.max_seconds, args.steps, args.frames, pid
        )
        temp = {"scratch": folder_stats(scratch), "gradio": folder_stats(gradio_dir)}
        text = report(args, results, wall, sampler, machine, temp)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if args.append and args.out.exists():
            args.out.write_text(args.out.read_text().rstrip() + "\n\n" + text)
        else:
            args.out.write_text(INTRO + "\n" + text)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
