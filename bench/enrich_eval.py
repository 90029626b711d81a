"""Enrichment quality on our own labelled set: the enrich stage against raw spaCy, field by field.

    .venv/bin/python bench/enrich_eval.py [--eval-dir tests/enrich/eval] [--repeat 3]
                                          [--details] [--json PATH] [--split dev|test|all]

The set is ``tests/enrich/eval``: one dump per kind of news (``sport.txt``, ``business.txt``, ...;
the kind is the file's name), written for the project, and ``labels.jsonl`` (one line per article,
keyed by kind and title); its rules are in ``RULES.md``. Each dump is parsed with
``worker.parse.parse_dump`` and enriched twice, on the same articles:

``ours``
    the enrich stage as a worker runs it: ``build_pipeline`` with every default enricher.
``raw spaCy``
    the same ``en_core_web_sm`` model (the stage's own loaded pipeline, with our entity
    patterns' ruler switched off), ``nlp.pipe`` over the same article bodies, with no
    post-processing: ``PERSON`` → person, ``ORG`` → org, ``GPE``, ``LOC`` and ``FAC`` →
    location, each mention's text as written (spaces collapsed), duplicates dropped. Countries:
    each ``GPE``/``LOC``/``FAC``/``NORP`` mention's text looked up as it stands in the
    project's gazetteer (``Gazetteer.place``: country names, demonyms, city
    names). Quotes: passages of three words or more between quotation marks, the speaker the
    ``PERSON`` mention nearest to the quote in the sentences it touches (else none). Key phrases:
    YAKE (``yake_rust``, English, up to 3 words, top 10) on the body, undeduplicated.

Printed: precision, recall and F1 of person, org, location, countries and quotes, and the speaker
accuracy over matched quotes, overall (with the issue's targets) and per kind; the number of
articles whose key phrases overlap one another; and speed (articles/s, best of ``--repeat``):
the whole stage (all enrichers) against ``nlp.pipe`` plus the raw mapping. The scoring is in
``bench/_enrich_scoring.py``. ``--details`` lists, per article, what each side missed and added.
``--json PATH`` writes the overall figures for ``bench/run_all.py`` (``figures``), each beside the
raw spaCy figure, plus every score per kind (``scores``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import REPO, Figure, machine_info, machine_lines
from _enrich_scoring import (
    NAME_FIELDS,
    SET_FIELDS,
    ArticleResult,
    Counts,
    Summary,
    by_kind,
    score_article,
    summarise,
    summary_dict,
)

from worker.enrich import ArticleAnalyzer, EnrichResources, build_pipeline
from worker.enrich.nlp import SPACY_BATCH_SIZE, body_text
from worker.log import configure_logging
from worker.models import ParsedArticle
from worker.parse import parse_dump
from worker.settings import Settings

RULER_NAME = "newsingest_rules"  # worker.enrich.nlp.RULER_NAME, which versions before 0.4.0 lack

DEFAULT_EVAL_DIR = REPO / "tests" / "enrich" / "eval"
BENCH = "enrich_eval"
RAW_KINDS = {"PERSON": "person", "ORG": "org", "GPE": "location", "LOC": "location"}
RAW_KINDS["FAC"] = "location"
RAW_PLACE_LABELS = frozenset({"GPE", "LOC", "FAC", "NORP"})
_RAW_QUOTE = re.compile(r"“([^“”]+)”|\"([^\"\n]+)\"")
# The targets, for the reader (the held-back set has its own figures).
TARGETS = {
    "person F1": ">= 0.92",
    "org F1": ">= 0.80",
    "location F1": ">= 0.88",
    "countries precision": ">= 0.92",
    "countries recall": ">= 0.95",
    "quotes precision": ">= 0.95",
    "speaker accuracy": ">= 0.90",
    "articles with overlapping key phrases": "0",
    "speed": ">= 0.8 x today's stage",
}


# --- the set ------------------------------------------------------------------------------------


def load_set(folder: Path) -> tuple[list[ParsedArticle], list[dict[str, Any]], list[str]]:
    """The articles of every dump in ``folder``, their labels (in the same order) and kinds."""
    labels = {}
    for line in (folder / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            label = json.loads(line)
            labels[(label["kind"], label["title"])] = label
    articles, gold, kinds = [], [], []
    for path in sorted(folder.glob("*.txt")):
        for article in parse_dump(path.read_bytes()).articles:
            key = (path.stem, article.title)
            if key not in labels:
                raise SystemExit(f"no label for {key} in {folder / 'labels.jsonl'}")
            articles.append(article)
            gold.append(labels.pop(key))
            kinds.append(path.stem)
    if labels:
        raise SystemExit(f"labels with no article in the dumps: {sorted(labels)}")
    return articles, gold, kinds


def split_indexes(kinds: Sequence[str], split: str) -> list[int]:
    """Positions of the dev half (the first ceil(n/2) articles of each kind) or the test half."""
    seen: dict[str, int] = {}
    keep = []
    for i, kind in enumerate(kinds):
        position = seen[kind] = seen.get(kind, -1) + 1
        in_dev = position < (kinds.count(kind) + 1) // 2
        if in_dev == (split == "dev"):
            keep.append(i)
    return keep


# --- ours ---------------------------------------------------------------------------------------


def ours_predictions(fields: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    predictions = []
    for found in fields:
        entities = found.get("entities") or {}
        predictions.append(
            {
                **{k: [e["text"] for e in entities.get(k) or []] for k in NAME_FIELDS},
                "countries": found.get("countries") or [],
                "quotes": found.get("quotes") or [],
                "keywords": found.get("keywords") or [],
            }
        )
    return predictions


# --- raw spaCy ----------------------------------------------------------------------------------


def raw_prediction(doc: Any, gazetteer: Any) -> dict[str, Any]:
    """What the model gives with nothing done to it (see the module's docstring)."""
    names: dict[str, dict[str, None]] = {k: {} for k in NAME_FIELDS}
    countries: dict[str, None] = {}
    for ent in doc.ents:
        text = " ".join(ent.text.split())
        if ent.label_ in RAW_KINDS:
            names[RAW_KINDS[ent.label_]][text] = None
        if ent.label_ in RAW_PLACE_LABELS:
            code = gazetteer.place(text)
            if code:
                countries[code] = None
    people = [ent for ent in doc.ents if ent.label_ == "PERSON"]
    quotes = []
    for match in _RAW_QUOTE.finditer(doc.text):
        passage = next(g for g in match.groups() if g is not None)
        if len(passage.split()) < 3:
            continue
        start, end = match.span()
        touched = [s for s in doc.sents if s.start_char < end and s.end_char > start]
        low, high = touched[0].start_char, touched[-1].end_char
        near = [
            p for p in people if low <= p.start_char < high and not (start <= p.start_char < end)
        ]
        speaker = None
        if near:
            nearest = min(near, key=lambda p: min(abs(p.start_char - end), abs(start - p.end_char)))
            speaker = " ".join(nearest.text.split())
        quotes.append({"text": " ".join(passage.split()), "speaker": speaker})
    return {
        **{k: list(v) for k, v in names.items()},
        "countries": list(countries),
        "quotes": quotes,
    }


def raw_keywords(articles: Sequence[ParsedArticle]) -> list[list[str]]:
    import yake_rust

    extractor = yake_rust.Yake(language="en", ngrams=3)
    return [[phrase for phrase, _ in extractor.get_n_best(a.body, n=10)] for a in articles]


# --- printing -----------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def overall_rows(ours: Summary, raw: Summary) -> list[list[str]]:
    rows = []
    for name in SET_FIELDS:
        o, r = ours.sets[name], raw.sets[name]
        rows.append([name, *score_cells(o), *score_cells(r), target_of(name)])
    o, r = ours.quotes.counts, raw.quotes.counts
    rows.append(["quotes", *score_cells(o), *score_cells(r), target_of("quotes")])
    rows.append(
        [
            "speaker accuracy",
            fmt(ours.quotes.speaker_accuracy),
            f"({ours.quotes.speakers_right}/{ours.quotes.speakers_total})",
            "",
            fmt(raw.quotes.speaker_accuracy),
            f"({raw.quotes.speakers_right}/{raw.quotes.speakers_total})",
            "",
            TARGETS["speaker accuracy"],
        ]
    )
    return rows


def score_cells(counts: Counts) -> list[str]:
    return [fmt(counts.precision), fmt(counts.recall), fmt(counts.f1)]


def target_of(name: str) -> str:
    parts = [
        f"{measure[0].upper()} {TARGETS[f'{name} {measure}']}"
        for measure in ("precision", "recall", "F1")
        if f"{name} {measure}" in TARGETS
    ]
    return ", ".join(parts)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(c).ljust(w) if i in (0, len(cells) - 1) else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def kind_rows(ours: dict[str, Summary], raw: dict[str, Summary]) -> list[list[str]]:
    rows = []
    for kind, o in ours.items():
        r = raw[kind]
        cells = [f"{kind} ({o.articles})"]
        for name in SET_FIELDS:
            cells.append(f"{fmt(o.sets[name].f1)} / {fmt(r.sets[name].f1)}")
        cells.append(f"{fmt(o.quotes.counts.f1)} / {fmt(r.quotes.counts.f1)}")
        cells.append(f"{fmt(o.quotes.speaker_accuracy)} / {fmt(r.quotes.speaker_accuracy)}")
        cells.append(f"{o.overlapping_articles} / {r.overlapping_articles}")
        rows.append(cells)
    return rows


def details(ours: Sequence[ArticleResult], raw: Sequence[ArticleResult]) -> list[str]:
    lines = []
    for o, r in zip(ours, raw, strict=True):
        lines.append(f"== {o.kind}: {o.title}")
        for side, result in (("ours", o), ("raw ", r)):
            for name in SET_FIELDS:
                s = result.sets[name]
                if s.missed or s.extra:
                    lines.append(f"  {side} {name:<9} missed {s.missed}  extra {s.extra}")
            q = result.quotes
            for text in q.missed:
                lines.append(f"  {side} quote missed: {text[:70]}")
            for text in q.extra:
                lines.append(f"  {side} quote extra : {text[:70]}")
            for text, want, got in q.wrong_speakers:
                lines.append(f"  {side} speaker {got!r} for {want!r}: {text[:50]}")
            for a, b in result.overlaps:
                lines.append(f"  {side} key phrases overlap: {a!r} ~ {b!r}")
    return lines


# --- main ---------------------------------------------------------------------------------------


def best_time(run: Any, repeat: int) -> tuple[float, Any]:
    best, value = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        value = run()
        best = min(best, time.perf_counter() - started)
    return best, value


def figures(ours: Summary, raw: Summary, speed: tuple[float, float], n: int) -> list[Figure]:
    def figure(
        name: str,
        value: float | None,
        baseline: float | None,
        target: str = "",
        baseline_name: str = "raw spaCy",
    ) -> Figure:
        note = None if value is not None else "not defined on this set (nothing to count)"
        return Figure(
            BENCH,
            name,
            value,
            "" if "articles" not in name else "articles",
            baseline_name=baseline_name,
            baseline_value=baseline,
            target=target or None,
            note=note,
        )

    found = []
    for name in NAME_FIELDS:
        found.append(
            figure(f"{name} F1", ours.sets[name].f1, raw.sets[name].f1, TARGETS[f"{name} F1"])
        )
    c, rc = ours.sets["countries"], raw.sets["countries"]
    found.append(
        figure("countries precision", c.precision, rc.precision, TARGETS["countries precision"])
    )
    found.append(figure("countries recall", c.recall, rc.recall, TARGETS["countries recall"]))
    q, rq = ours.quotes.counts, raw.quotes.counts
    found.append(figure("quotes precision", q.precision, rq.precision, TARGETS["quotes precision"]))
    found.append(figure("quotes recall", q.recall, rq.recall))
    found.append(
        figure(
            "speaker accuracy",
            ours.quotes.speaker_accuracy,
            raw.quotes.speaker_accuracy,
            TARGETS["speaker accuracy"],
        )
    )
    found.append(
        figure(
            "articles with overlapping key phrases",
            float(ours.overlapping_articles),
            float(raw.overlapping_articles),
            TARGETS["articles with overlapping key phrases"],
            baseline_name="raw YAKE (top 10)",
        )
    )
    speed_figure = Figure(
        BENCH,
        "enrichment speed (all enrichers)",
        n / speed[0],
        "articles/s",
        baseline_name="raw spaCy nlp.pipe + mapping",
        baseline_value=n / speed[1],
        target=TARGETS["speed"],
    )
    return [*found, speed_figure]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL_DIR)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each; best shown")
    parser.add_argument("--details", action="store_true", help="per article: misses and extras")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument(
        "--split",
        choices=("dev", "test", "all"),
        default="all",
        help="dev: the first half of each kind's articles (to tune on); test: the second half",
    )
    args = parser.parse_args()
    if not (args.eval_dir / "labels.jsonl").is_file():
        print(f"SKIP: no labelled set in {args.eval_dir}")
        return 0
    configure_logging("console", "WARNING")
    articles, gold, kinds = load_set(args.eval_dir)
    if args.split != "all":
        keep = split_indexes(kinds, args.split)
        articles = [articles[i] for i in keep]
        gold = [gold[i] for i in keep]
        kinds = [kinds[i] for i in keep]
    n = len(articles)

    settings = Settings()
    resources = EnrichResources()
    build_pipeline(settings, None, resources)  # the model and the gazetteer, loaded once
    nlp, gazetteer = resources.analyzer.nlp, resources.gazetteer
    texts = [body_text(a) for a in articles]
    for _ in nlp.pipe(texts[:8], batch_size=SPACY_BATCH_SIZE):  # warm-up
        pass

    def run_ours() -> list[dict[str, Any]]:
        # a fresh analyzer each run (same model and gazetteer): no analyses cached from the last
        shared = EnrichResources(ArticleAnalyzer(nlp), gazetteer)
        result = build_pipeline(settings, None, shared).run(articles)
        assert not result.errors, result.errors
        return result.fields

    def run_raw() -> list[dict[str, Any]]:
        # the model as shipped: without our entity patterns in front of its recogniser
        # (an older version's code, run with PYTHONPATH for a before/after, may have no ruler)
        rules = [name for name in nlp.pipe_names if name == RULER_NAME]
        with nlp.select_pipes(disable=rules):
            docs = nlp.pipe(texts, batch_size=SPACY_BATCH_SIZE)
            return [raw_prediction(doc, gazetteer) for doc in docs]

    ours_s, ours_fields = best_time(run_ours, args.repeat)
    raw_s, raw_preds = best_time(run_raw, args.repeat)
    ours_preds = ours_predictions(ours_fields)
    for prediction, phrases in zip(raw_preds, raw_keywords(articles), strict=True):
        prediction["keywords"] = phrases

    ours_results = [score_article(g, p) for g, p in zip(gold, ours_preds, strict=True)]
    raw_results = [score_article(g, p) for g, p in zip(gold, raw_preds, strict=True)]
    ours_all, raw_all = summarise(ours_results), summarise(raw_results)
    ours_kinds, raw_kinds = by_kind(ours_results), by_kind(raw_results)

    print("\n".join(machine_lines()))
    counts = ", ".join(f"{kind} {kinds.count(kind)}" for kind in dict.fromkeys(kinds))
    print(f"set: {args.eval_dir} — {n} articles ({counts})")
    print(f"model: {nlp.meta.get('name')} {nlp.meta.get('version')}, {nlp.pipe_names}")
    print()
    header = ["field", "ours P", "R", "F1", "raw spaCy P", "R", "F1", "target"]
    print(table(header, overall_rows(ours_all, raw_all)))
    print()
    print("per kind, F1 ours / raw spaCy (speaker: accuracy; key phrases: articles overlapping)")
    kind_header = ["kind", *SET_FIELDS, "quotes", "speaker", "key phrases"]
    print(table([*kind_header, ""], [[*row, ""] for row in kind_rows(ours_kinds, raw_kinds)]))
    print()
    print(
        f"articles with overlapping key phrases: ours {ours_all.overlapping_articles} of {n}, "
        f"raw YAKE {raw_all.overlapping_articles} of {n} (target 0)"
    )
    print(
        f"speed, best of {args.repeat}: ours (all enrichers) {n / ours_s:.1f} articles/s, "
        f"raw spaCy nlp.pipe + mapping {n / raw_s:.1f} articles/s ({raw_s / ours_s:.2f}x)"
    )
    if args.details:
        print()
        print("\n".join(details(ours_results, raw_results)))
    if args.json is not None:
        found = figures(ours_all, raw_all, (ours_s, raw_s), n)
        from dataclasses import asdict

        data = {
            "machine": machine_info(),
            "figures": [asdict(f) for f in found],
            "scores": {
                "ours": {"all": summary_dict(ours_all)}
                | {k: summary_dict(v) for k, v in ours_kinds.items()},
                "raw_spacy": {"all": summary_dict(raw_all)}
                | {k: summary_dict(v) for k, v in raw_kinds.items()},
            },
        }
        args.json.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
