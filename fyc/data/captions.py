"""`python -m fyc captions`: rewrite video captions into WebVid-Motion form, objects + a short motion phrase.

    python -m fyc captions results_2M_train.csv --out webvid_motion.jsonl \\
        --base-url http://localhost:8000/v1 --model Qwen2.5-7B-Instruct --rps 5 --workers 8
    python -m fyc captions captions.jsonl --out motion.jsonl          # offline rules (no endpoint set)

Any OpenAI-compatible chat-completions endpoint works (vLLM, llama.cpp server, Ollama, hosted APIs). The
endpoint, model and key come from the flags or the environment: FYC_LLM_BASE_URL / OPENAI_BASE_URL,
FYC_LLM_MODEL / OPENAI_MODEL, FYC_LLM_API_KEY / OPENAI_API_KEY. Without an endpoint the offline
rule-based extractor (`fyc.data.caption_rules`) is used.

The model sees the in-context examples of `motion_examples.json` as chat turns and must answer
{"objects": [...], "motion": "short phrase"}. Replies are validated; malformed JSON, HTTP 429/5xx and
network errors are retried with exponential backoff; a caption that still fails falls back to the rules
and its line records the error. Output is JSONL, one line per caption:
    {"id", "caption", "objects", "motion", "source": "llm:<model>" | "rules", "error"?}
Re-running with the same --out skips ids already written (resume after an interruption).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fyc.data.caption_rules import MotionPhrase, extract_motion

EXAMPLES_PATH = Path(__file__).with_name("motion_examples.json")
MAX_MOTION_WORDS = 8
SYSTEM_PROMPT = """You rewrite video captions for training a regional image-animation model.
For each caption, answer with one JSON object and nothing else:
{"objects": [<the things that move, head nouns as written>], "motion": "<short motion phrase>"}
Rules for "motion": the lemma of each action verb the caption states, in order, joined by " and "; keep a
verb's particle or bare direction (up, down, away, left, right, around, out, off, towards camera, at camera)
and its direct object's head noun ("wave hand", "blow out candles"); drop places and instruments ("run on
the beach" -> "run"); "starts to dance" -> "dance". At most 8 words. If the caption states no action,
answer {"objects": [], "motion": ""}."""

ENV_BASE_URL = ("FYC_LLM_BASE_URL", "OPENAI_BASE_URL")
ENV_MODEL = ("FYC_LLM_MODEL", "OPENAI_MODEL")
ENV_API_KEY = ("FYC_LLM_API_KEY", "OPENAI_API_KEY")


class ChatError(Exception):
    """A chat request that failed; `retryable` says whether trying again can help."""

    def __init__(self, message: str, retryable: bool = True, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class EndpointConfigError(ChatError):
    """The endpoint refuses every request (bad URL, key or model): stop the run rather than fall back."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


class RateLimiter:
    """At most `rate` request starts per second, shared between threads."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic, sleep=time.sleep):
        self.interval = 1.0 / rate if rate else 0.0
        self.clock, self.sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self.clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self.sleep(start - now)


def load_examples(path=EXAMPLES_PATH, limit: int | None = None) -> list[dict]:
    """In-context examples [{"caption", "objects", "motion"}] from the shipped (or a user's) JSON."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    examples = data["examples"] if isinstance(data, dict) else data
    for e in examples:
        if not {"caption", "objects", "motion"} <= set(e):
            raise ValueError(f"{path}: every example needs caption, objects and motion; got {e}")
    return examples[:limit] if limit else examples


def build_messages(caption: str, examples: list[dict]) -> list[dict]:
    """Chat messages: the rules, each example as a user/assistant turn, then the caption."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    for e in examples:
        messages.append({"role": "user", "content": e["caption"]})
        messages.append({"role": "assistant", "content": json.dumps({"objects": e["objects"], "motion": e["motion"]})})
    messages.append({"role": "user", "content": caption})
    return messages


def parse_reply(text: str) -> MotionPhrase:
    """Validate a model reply: a JSON object {"objects": [str, ...], "motion": str} (code fences allowed).

    Raises `ValueError` saying what is wrong, so the request can be retried.
    """
    if not isinstance(text, str):
        raise ValueError(f"reply content is {type(text).__name__}, not text")
    body = re.sub(r"^\s*```(?:json)?\s*|\s*```\s*$", "", text.strip())
    match = re.search(r"\{.*\}", body, re.DOTALL)
    if not match:
        raise ValueError(f"no JSON object in reply: {text[:200]!r}")
    try:
        data = json.loads(match.group(0))
    except json.JSONDecodeError as exc:
        raise ValueError(f"reply is not valid JSON ({exc.msg}): {text[:200]!r}") from None
    if not isinstance(data, dict) or "motion" not in data or "objects" not in data:
        raise ValueError(f"reply lacks 'objects' or 'motion': {text[:200]!r}")
    objects, motion = data["objects"], data["motion"]
    if isinstance(objects, str):
        objects = [objects] if objects.strip() else []
    if not isinstance(objects, list) or not all(isinstance(o, str) for o in objects):
        raise ValueError(f"'objects' must be a list of strings, got {objects!r}")
    if motion is None:
        motion = ""
    if not isinstance(motion, str):
        raise ValueError(f"'motion' must be a string, got {motion!r}")
    motion = re.sub(r"\s+", " ", motion.strip().strip(".").lower())
    if len(motion.split()) > MAX_MOTION_WORDS:
        raise ValueError(f"'motion' is not a short phrase ({len(motion.split())} words): {motion!r}")
    return MotionPhrase([o.strip().lower() for o in objects if o.strip()], motion)


class ChatClient:
    """Minimal OpenAI-compatible chat-completions client (standard library only) with retries.

    Args:
        base_url: API root, e.g. "http://localhost:8000/v1" (POSTs to {base_url}/chat/completions).
        model: model name the server knows.
        api_key: sent as "Authorization: Bearer ..." when given.
        timeout: seconds per HTTP request.
        max_retries: extra attempts after the first, for retryable errors and invalid replies.
        backoff: first retry delay in seconds, doubled each attempt up to `max_backoff`.
        requests_per_second: rate limit over all threads using this client (None: unlimited).
        json_mode: ask for `response_format={"type": "json_object"}` (vLLM, llama.cpp, Ollama, OpenAI).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        requests_per_second: float | None = None,
        json_mode: bool = False,
        sleep=time.sleep,
    ):
        if not base_url:
            raise ValueError("ChatClient needs a base_url such as http://localhost:8000/v1")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.api_key, self.timeout = model, api_key, timeout
        self.max_retries, self.backoff, self.max_backoff = max_retries, backoff, max_backoff
        self.json_mode = json_mode
        self.sleep = sleep
        self.limiter = RateLimiter(requests_per_second, sleep=sleep)

    def _post(self, payload: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=json.dumps(payload).encode(), headers=headers, method="POST")
        self.limiter.wait()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            if exc.code in (401, 403, 404):
                raise EndpointConfigError(
                    f"{self.url} answered HTTP {exc.code} ({detail.strip()}); check --base-url, --model and "
                    "--api-key (or FYC_LLM_BASE_URL / FYC_LLM_MODEL / OPENAI_API_KEY)."
                ) from None
            retry_after = exc.headers.get("Retry-After") if exc.headers else None
            raise ChatError(
                f"HTTP {exc.code}: {detail}",
                retryable=exc.code in (408, 409, 425, 429) or exc.code >= 500,
                retry_after=float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None,
            ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            raise ChatError(f"request to {self.url} failed: {getattr(exc, 'reason', exc)}") from None
        try:
            return json.loads(body)
        except json.JSONDecodeError:
            raise ChatError(f"server sent a non-JSON body: {body[:200]!r}") from None

    def complete(self, messages: list[dict]) -> str:
        """One chat completion's text (no retries)."""
        payload = {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": 200}
        if self.json_mode:
            payload["response_format"] = {"type": "json_object"}
        data = self._post(payload)
        try:
            return data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise ChatError(f"unexpected response shape: {json.dumps(data)[:200]}") from None

    def extract(self, caption: str, examples: list[dict]) -> tuple[MotionPhrase, int]:
        """(validated phrase, attempts used); retries errors and invalid replies with backoff.

        Raises `ChatError` when every attempt failed, `EndpointConfigError` at once for 401/403/404.
        """
        messages = build_messages(caption, examples)
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                if isinstance(last, ChatError) and last.retry_after is not None:
                    delay = max(delay, min(self.max_backoff, last.retry_after))
                self.sleep(delay * (1 + 0.1 * random.random()))  # jitter: parallel workers do not retry in step
            try:
                return parse_reply(self.complete(messages)), attempt + 1
            except EndpointConfigError:
                raise
            except ChatError as exc:
                last = exc
                if not exc.retryable:
                    break
            except ValueError as exc:  # malformed reply: asking again usually gives a valid one
                last = exc
        error = ChatError(f"gave up after {attempt + 1} attempt(s): {last}", retryable=False)
        error.attempts = attempt + 1
        raise error


def read_caption_records(path) -> list[dict]:
    """[{"id", "caption"}] from a WebVid CSV (videoid, name), a CSV with id/caption, or JSONL."""
    path = Path(path)
    records = []
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            id_col = next((c for c in ("videoid", "id", "key", "video_id") if c in fields), None)
            cap_col = next((c for c in ("name", "caption", "text") if c in fields), None)
            if not id_col or not cap_col:
                raise ValueError(
                    f"{path}: need an id column (videoid/id) and a caption column (name/caption); got {fields}"
                )
            for row in reader:
                if row.get(id_col):
                    records.append({"id": str(row[id_col]).strip(), "caption": (row.get(cap_col) or "").strip()})
    else:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                data = json.loads(line)
                key = next((data[k] for k in ("id", "videoid", "key", "video_id") if data.get(k) is not None), None)
                caption = next((data[k] for k in ("caption", "name", "text") if k in data), None)
                if key is None or caption is None:
                    raise ValueError(f"{path}:{n}: each line needs an id (id/videoid) and a caption (caption/name)")
                records.append({"id": str(key), "caption": str(caption)})
    return records


def load_motion_prompts(path) -> dict[str, str]:
    """video id -> motion phrase from a JSONL written by this command (the last line for an id wins)."""
    from fyc.data.motion_cache import read_jsonl

    return {str(r["id"]): str(r.get("motion", "")) for r in read_jsonl(path) if "id" in r}


def _done_ids(out_path: Path, retry_failed: bool) -> set[str]:
    from fyc.data.motion_cache import read_jsonl

    latest = {str(r["id"]): r for r in read_jsonl(out_path) if "id" in r}
    return {k for k, r in latest.items() if not (retry_failed and r.get("error"))}


def rewrite_captions(
    records: Iterable[dict],
    out_path,
    client: ChatClient | None = None,
    examples=None,
    workers: int = 1,
    retry_failed: bool = False,
    progress: Callable[[dict], None] | None = None,
) -> dict:
    """Rewrite `records` ({"id", "caption"}) into `out_path` JSONL, skipping ids already there.

    With `client=None` every caption goes through the offline rules. Returns counts:
    {"written", "skipped", "llm", "rules", "fallback", "attempts"}.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    records = list(records)
    done = _done_ids(out_path, retry_failed)
    todo = [r for r in records if r["id"] not in done]
    counts = {"written": 0, "skipped": len(records) - len(todo), "llm": 0, "rules": 0, "fallback": 0, "attempts": 0}
    examples = load_examples() if client is not None and examples is None else examples
    lock = threading.Lock()

    def one(record: dict) -> dict:
        line = {"id": record["id"], "caption": record["caption"]}
        if client is None:
            phrase = extract_motion(record["caption"])
            line.update(phrase.to_dict(), source="rules")
            return line
        try:
            phrase, attempts = client.extract(record["caption"], examples)
            line.update(phrase.to_dict(), source=f"llm:{client.model}", attempts=attempts)
        except EndpointConfigError:
            raise
        except ChatError as exc:
            phrase = extract_motion(record["caption"])
            line.update(phrase.to_dict(), source="rules", error=str(exc), attempts=getattr(exc, "attempts", 1))
        return line

    with open(out_path, "a", encoding="utf-8") as out:

        def write(line: dict) -> None:
            with lock:
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
                out.flush()  # every finished caption survives an interruption
                counts["written"] += 1
                counts["rules" if line["source"] == "rules" else "llm"] += 1
                counts["fallback"] += "error" in line
                counts["attempts"] += line.get("attempts", 0)
            if progress:
                progress(line)

        if workers <= 1 or client is None:
            for record in todo:
                write(one(record))
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for line in pool.map(one, todo):
                    write(line)
    return counts


def _env(names: tuple[str, ...]) -> str | None:
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


def build_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="captions: WebVid CSV (videoid, name), CSV with id/caption, or JSONL")
    parser.add_argument("--out", required=True, help="output JSONL; ids already in it are skipped (resume)")
    parser.add_argument(
        "--base-url",
        help="OpenAI-compatible API root, e.g. http://localhost:8000/v1 "
        "(default: $FYC_LLM_BASE_URL or $OPENAI_BASE_URL; none: offline rules)",
    )
    parser.add_argument("--model", help="model name (default: $FYC_LLM_MODEL or $OPENAI_MODEL)")
    parser.add_argument("--api-key", help="API key (default: $FYC_LLM_API_KEY or $OPENAI_API_KEY)")
    parser.add_argument(
        "--rules", action="store_true", help="use the offline rule-based extractor even if an endpoint is set"
    )
    parser.add_argument("--rps", type=float, default=None, help="rate limit: requests per second (default: unlimited)")
    parser.add_argument("--workers", type=int, default=1, help="parallel requests (default: 1)")
    parser.add_argument(
        "--max-retries", type=int, default=5, help="retries per caption for errors and malformed replies"
    )
    parser.add_argument("--backoff", type=float, default=1.0, help="first retry delay in seconds, doubled each retry")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    parser.add_argument("--json-mode", action="store_true", help='send response_format={"type": "json_object"}')
    parser.add_argument("--examples", default=str(EXAMPLES_PATH), help="in-context examples JSON")
    parser.add_argument(
        "--num-examples", type=int, default=None, help="use only the first N examples (shorter prompts)"
    )
    parser.add_argument("--retry-failed", action="store_true", help="redo ids whose earlier line recorded an error")
    parser.add_argument("--limit", type=int, default=None, help="only the first N captions of the input")


def run(args) -> int:
    records = read_caption_records(args.input)[: args.limit]
    base_url = args.base_url or _env(ENV_BASE_URL)
    client = None
    if base_url and not args.rules:
        model = args.model or _env(ENV_MODEL)
        if not model:
            print("error: an endpoint is set but no model: pass --model or set FYC_LLM_MODEL.", file=sys.stderr)
            return 2
        client = ChatClient(
            base_url,
            model,
            args.api_key or _env(ENV_API_KEY),
            timeout=args.timeout,
            max_retries=args.max_retries,
            backoff=args.backoff,
            requests_per_second=args.rps,
            json_mode=args.json_mode,
        )
        examples = load_examples(args.examples, args.num_examples)
        print(f"captions: {len(records)} from {args.input} via {client.url} ({model}), {len(examples)} examples")
    else:
        examples = None
        print(f"captions: {len(records)} from {args.input} via the offline rule-based extractor")
    start = time.time()
    try:
        counts = rewrite_captions(
            records, args.out, client, examples, workers=args.workers, retry_failed=args.retry_failed
        )
    except EndpointConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {counts['written']} lines to {args.out} in {time.time() - start:.1f}s "
        f"({counts['skipped']} already there, {counts['llm']} by the model, {counts['rules']} by rules, "
        f"{counts['fallback']} fell back after errors)"
    )
    return 0
