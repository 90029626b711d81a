"""Enrichment speed: raw spaCy ``nlp.pipe`` against the whole enrich stage, on the same articles.

    .venv/bin/python bench/enrich_speed.py [--samples ../shared/samples] [--files a.txt b.txt]
                                           [--limit N] [--repeat N] [--json PATH]
                                           [--against COMMIT]

One process, one model: the stage's own spaCy pipeline (``tok2vec``, ``parser``, ``ner``) is also
the baseline's, fed the same texts (article bodies) with the same batch size. The stage runs every
default enricher through ``EnrichPipeline``; spaCy's time is counted by the first enricher that
asks for the shared analyses (``entities``). Peak RSS is this process's high-water mark after the
stage ran: model, gazetteer, yake and one batch of analyses, i.e. what one worker process holds.
Skips with a message when the samples folder is absent. ``--limit N`` takes only the first N
articles of the files; ``--json PATH`` also writes the figure for ``bench/run_all.py``: the
stage's articles/s beside raw spaCy's. ``--against COMMIT`` then runs that commit's own copy of
this bench (``git archive`` of its ``worker`` and ``bench``) on the same files in a subprocess,
and prints its stage's articles/s beside this one's: the enrichment speed before a change,
measured in the same run on the same machine.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DEFAULT_SAMPLES, Figure, code_at, machine_lines, peak_rss_mb, write_figures

from worker.enrich import EnrichResources, build_pipeline
from worker.enrich.nlp import SPACY_BATCH_SIZE, ArticleAnalyzer, body_text
from worker.log import configure_logging
from worker.parse import parse_dump
from worker.settings import Settings

DEFAULT_FILES = ("reuters-1987.txt", "bbc-business.txt", "000_ea8bfdc928b77613.txt")
TARGET = 0.9  # the stage at >= 0.9 x raw spaCy
FIGURE = "enrich stage (all enrichers)"


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=Path, default=DEFAULT_SAMPLES)
    parser.add_argument("--files", nargs="*", default=list(DEFAULT_FILES))
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; the best is shown")
    parser.add_argument("--limit", type=int, help="only the first N articles of the files")
    parser.add_argument("--json", type=Path, help="also write the figure to this JSON file")
    parser.add_argument("--against", help="also run this commit's enrich stage, for comparison")
    args = parser.parse_args()
    paths = [args.samples / name for name in args.files]
    if not args.samples.is_dir() or not all(p.is_file() for p in paths):
        print(f"SKIP: sample dumps {args.files} not found in {args.samples}")
        if args.json is not None:
            reason = f"skipped: sample dumps {args.files} not found in {args.samples}"
            skipped = Figure("enrich_speed", FIGURE, None, "articles/s", note=reason)
            write_figures(args.json, [skipped])
        return 0
    configure_logging("console", "WARNING")
    articles = [a for p in paths for a in parse_dump(p.read_bytes()).articles]
    if args.limit is not None:
        articles = articles[: args.limit]
    texts = [body_text(a) for a in articles]
    words = sum(len(t.split()) for t in texts)

    baseline_rss = current_rss_mb()
    started = time.perf_counter()
    settings = Settings()
    resources = EnrichResources()
    build_pipeline(settings, None, resources)
    build_s = time.perf_counter() - started
    nlp = resources.analyzer.nlp
    built_rss = current_rss_mb()
    for _ in nlp.pipe(texts[:20], batch_size=SPACY_BATCH_SIZE):  # warm-up
        pass

    raw_s: list[float] = []
    stage_s: list[float] = []
    shares: dict[str, float] = {}
    for _ in range(args.repeat):
        started = time.perf_counter()
        for _doc in nlp.pipe(texts, batch_size=SPACY_BATCH_SIZE):
            pass
        raw_s.append(time.perf_counter() - started)

        # a fresh analyzer (same model, same gazetteer): no analyses cached from the last run
        shared = EnrichResources(ArticleAnalyzer(nlp), resources.gazetteer)
        fresh = build_pipeline(settings, None, shared)
        started = time.perf_counter()
        result = fresh.run(articles)
        elapsed = time.perf_counter() - started
        if not stage_s or elapsed < min(stage_s):
            shares = result.timings_ms
        stage_s.append(elapsed)
        assert not result.errors, result.errors

    raw, stage = min(raw_s), min(stage_s)
    n = len(articles)
    print("\n".join(machine_lines()))
    print(f"articles: {n} from {', '.join(args.files)} ({words:,} words in bodies)")
    print(f"spaCy: {nlp.pipe_names}, batch size {SPACY_BATCH_SIZE}, best of {args.repeat} runs")
    print()
    print(f"{'':<34}{'seconds':>9}{'articles/s':>12}{'words/s':>10}{'vs raw':>9}")
    print(f"{'raw spaCy nlp.pipe':<34}{raw:>9.2f}{n / raw:>12.1f}{words / raw:>10,.0f}{1.0:>9.2f}x")
    print(
        f"{'enrich stage (all enrichers)':<34}{stage:>9.2f}{n / stage:>12.1f}"
        f"{words / stage:>10,.0f}{raw / stage:>9.2f}x"
    )
    print()
    total_ms = sum(shares.values())
    print("each enricher's share of the stage (spaCy counted under the first one to ask for it)")
    for name, ms in shares.items():
        print(f"  {name:<12}{ms / 1000:>8.2f} s  {ms / total_ms:>6.1%}")
    print()
    print(f"start-up (model + gazetteer + yake): {build_s:.2f} s")
    print(f"RSS before start-up {baseline_rss:.0f} MB, after {built_rss:.0f} MB")
    print(f"peak RSS of this worker-like process: {peak_rss_mb():.0f} MB")
    print("target: stage >= 0.90x raw spaCy:", "met" if raw / stage >= TARGET else "MISSED")
    if args.against:
        before = stage_of_commit(args.against, args)
        print()
        print(f"enrich stage at {args.against}: {before:.1f} articles/s (same files, same run)")
        print(f"enrich stage now: {n / stage:.1f} articles/s = {n / stage / before:.2f}x")
    if args.json is not None:
        figure = Figure(
            bench="enrich_speed",
            name=FIGURE,
            value=n / stage,
            unit="articles/s",
            baseline_name="raw spaCy nlp.pipe",
            baseline_value=n / raw,
            target=f">= {TARGET} x baseline",
            note=f"{n:,} articles, best of {args.repeat}",
        )
        write_figures(args.json, [figure])
    return 0


def stage_of_commit(commit: str, args: argparse.Namespace) -> float:
    """Articles/s of the enrich stage at ``commit``, from that commit's own copy of this bench."""
    with tempfile.TemporaryDirectory() as folder:
        code_at(commit, Path(folder), "worker", "bench")
        argv = [sys.executable, str(Path(folder) / "bench" / "enrich_speed.py")]
        argv += ["--samples", str(args.samples.resolve()), "--repeat", str(args.repeat)]
        argv += ["--files", *args.files]
        if args.limit is not None:
            argv += ["--limit", str(args.limit)]
        env = {**os.environ, "PYTHONPATH": folder}
        done = subprocess.run(argv, env=env, cwd=folder, capture_output=True, text=True)
    found = re.search(r"^enrich stage \(all enrichers\)\s+\S+\s+(\S+)", done.stdout, re.M)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"the bench at {commit} failed:\n{done.stdout}\n{done.stderr[-2000:]}")
    return float(found.group(1))


if __name__ == "__main__":
    sys.exit(main())
