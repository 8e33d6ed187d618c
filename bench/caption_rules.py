"""Precision / recall of the offline rule-based motion-phrase extractor on the hand-labelled captions.

Run: `.venv/bin/python bench/caption_rules.py [tests/data/hand_labelled_captions.jsonl] [--errors]`.
Prints the scores of `fyc.data.caption_rules.score` per subset and overall, and with --errors every
caption whose phrase differs from its label. Figures are recorded in docs/results/captions.md.
"""

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fyc.data.caption_rules import extract_motion, score  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labels", nargs="?", default=str(ROOT / "tests/data/hand_labelled_captions.jsonl"))
    parser.add_argument("--errors", action="store_true", help="list the captions whose phrase is wrong")
    args = parser.parse_args()
    if args.labels.endswith(".json"):  # the in-context examples: {"examples": [...]}
        records = json.load(open(args.labels, encoding="utf-8"))["examples"]
    else:
        records = [json.loads(line) for line in open(args.labels, encoding="utf-8") if line.strip()]
    start = time.perf_counter()
    predictions = [extract_motion(r["caption"]) for r in records]
    ms = (time.perf_counter() - start) * 1000 / max(1, len(records))
    subsets = {}
    for record, pred in zip(records, predictions):
        subsets.setdefault(record.get("subset", "all"), []).append((record, pred))
    if len(subsets) > 1:
        subsets["all"] = list(zip(records, predictions))
    cols = [
        "n",
        "motion_precision",
        "motion_recall",
        "motion_f1",
        "verb_precision",
        "verb_recall",
        "object_precision",
        "object_recall",
        "exact",
        "empty_accuracy",
    ]
    names = [
        c.replace("_precision", " P").replace("_recall", " R").replace("_f1", " F1").replace("_accuracy", " acc")
        for c in cols
    ]
    print(f"{'subset':<8}" + "".join(f"{n:>11}" for n in names))
    for name, pairs in subsets.items():
        s = score([r for r, _ in pairs], [p for _, p in pairs])
        print(f"{name:<8}" + "".join(f"{s[c]:>11d}" if c == "n" else f"{s[c]:>11.3f}" for c in cols))
    print(f"{ms:.2f} ms per caption")
    if args.errors:
        for record, pred in zip(records, predictions):
            if pred.motion != record["motion"] or pred.objects != record["objects"]:
                print(
                    f"  {record['caption']!r}\n    label {record['objects']} {record['motion']!r}"
                    f"  got {pred.objects} {pred.motion!r}"
                )


if __name__ == "__main__":
    main()
