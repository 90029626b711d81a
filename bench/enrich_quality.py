"""Enrichment quality on the real samples: language accuracy per sample, countries P/R on Reuters.

    .venv/bin/python bench/enrich_quality.py [--samples ../shared/samples]

Language: every article of ``aawsat-ar-*`` is expected to be Arabic, every other sample English.
Countries: micro precision and recall of the ``countries`` enricher against the Reuters editors'
labels (``reuters-1987.labels.jsonl``; line i labels article i), over the articles that carry at
least one label. Skips with a message when the samples folder is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _common import DEFAULT_SAMPLES, sample_files

from worker.enrich import EnrichResources, build_pipeline
from worker.log import configure_logging
from worker.parse import parse_dump
from worker.settings import Settings


def expected_language(path: Path) -> str:
    return "ar" if "-ar-" in path.name else "en"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=Path, default=DEFAULT_SAMPLES)
    args = parser.parse_args()
    files = sample_files(args.samples)
    if not files:
        print(f"SKIP: no sample dumps in {args.samples} (the samples folder is absent)")
        return 0
    configure_logging("console", "WARNING")
    resources = EnrichResources()
    language = build_pipeline(Settings(), ["language"], resources)

    print("language accuracy per sample")
    print(f"{'sample':<28}{'articles':>9}{'expected':>9}{'correct':>9}{'accuracy':>10}  wrong")
    total = right = 0
    for path in files:
        articles = parse_dump(path.read_bytes()).articles
        fields = language.run(articles).fields
        want = expected_language(path)
        wrong = [
            (a.index, f["language"] if f else None)
            for a, f in zip(articles, fields, strict=True)
            if not f or f["language"] != want
        ]
        correct = len(articles) - len(wrong)
        total += len(articles)
        right += correct
        print(
            f"{path.name:<28}{len(articles):>9}{want:>9}{correct:>9}"
            f"{correct / max(len(articles), 1):>10.1%}  {wrong[:5]}"
        )
    print(f"{'all samples':<28}{total:>9}{'':>9}{right:>9}{right / max(total, 1):>10.1%}")

    reuters = args.samples / "reuters-1987.txt"
    labels_path = args.samples / "reuters-1987.labels.jsonl"
    if not (reuters.is_file() and labels_path.is_file()):
        print("SKIP countries: reuters-1987.txt or its labels are absent")
        return 0
    articles = parse_dump(reuters.read_bytes()).articles
    labels = [json.loads(line) for line in labels_path.read_text().splitlines() if line.strip()]
    countries = build_pipeline(Settings(), ["countries"], resources)
    started = time.perf_counter()
    fields = countries.run(articles).fields
    elapsed = time.perf_counter() - started
    tp = fp = fn = labelled = 0
    su_as_ru = 0
    for f, label in zip(fields, labels, strict=True):
        gold = set(label["countries"])
        if not gold:
            continue
        labelled += 1
        found = set(f["countries"]) if f else set()
        tp += len(found & gold)
        fp += len(found - gold)
        fn += len(gold - found)
        su_as_ru += int("SU" in gold and "RU" in found)
    precision = tp / max(tp + fp, 1)
    recall = tp / max(tp + fn, 1)
    print()
    print(f"countries on {reuters.name}: {labelled} labelled articles of {len(articles)}")
    print(f"  precision {precision:.3f}   recall {recall:.3f}   (targets: P >= 0.70, R >= 0.85)")
    print(f"  tp {tp}  fp {fp}  fn {fn}   ({elapsed:.1f} s incl. spaCy)")
    print(f"  labels SU where the text says Moscow/Russia (counted as fp): {su_as_ru} articles")
    ok = right == total and precision >= 0.70 and recall >= 0.85
    print("targets met" if ok else "TARGETS MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
