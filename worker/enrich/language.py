"""Language identification: py3langid, made robust for the articles news dumps really hold.

Two failure modes of a plain ``classify(text)`` on the samples, and what this module does:

* Tables of figures (Reuters earnings reports: ``Shr 75 cts vs 52 cts``) carry almost no words, and
  the model then picks a language at random (``de``, ``vo``, ``gd``, ``wa``). Tokens with digits and
  ticker symbols are dropped before classifying, and a guess the model itself is unsure of is
  replaced by the language the rest of the batch (the same dump) is confidently in.
* Pages of an Arabic-edition newspaper that list English film titles are mostly Latin letters but
  are Arabic pages. Text with a real share of non-Latin letters is classified on those letters
  alone: in news, Latin script inside a non-Latin page is names and titles quoted from elsewhere,
  while the reverse is rare.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from py3langid.langid import MODEL_FILE, LanguageIdentifier

from worker.models import ParsedArticle

# Enough text to be sure of the language, short enough to stay cheap on long articles.
SAMPLE_CHARS = 2000
# Below this normalised probability the model is guessing (measured: the earnings tables of the
# Reuters sample score 0.07-0.15, prose articles 0.99 and above).
MIN_CONFIDENCE = 0.5
# A non-Latin script that makes up this share of the letters decides the language.
NON_LATIN_SHARE = 0.05
NON_LATIN_MIN_LETTERS = 10

_NOISE_TOKEN = re.compile(r"\S*\d\S*|<[^>\s]*>?")


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    language: str | None
    confidence: float


class LanguageIdentifierModel:
    """py3langid's bundled model, restricted to ISO 639-1 codes. Build once per process."""

    def __init__(self) -> None:
        self._identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        # The model also knows ISO 639-3 varieties (pcm, arz, zxx...); records promise ISO 639-1.
        self._identifier.set_languages(
            [code for code in self._identifier.nb_classes if len(code) == 2]
        )

    def guess(self, text: str) -> LanguageGuess:
        """The language of one text, with the model's normalised probability."""
        sample = _NOISE_TOKEN.sub(" ", text[:SAMPLE_CHARS])
        non_latin = _non_latin_part(sample)
        if non_latin is not None:
            sample = non_latin
        if not any(ch.isalpha() for ch in sample):
            return LanguageGuess(None, 0.0)
        code, probability = self._identifier.classify(sample)
        return LanguageGuess(str(code), float(probability))

    def identify(self, texts: Sequence[str]) -> list[str | None]:
        """Languages of a batch of texts from one dump.

        Unsure guesses take the batch's majority language among the sure ones; with no sure
        article in the batch they stay unknown (``None``) rather than wrong.
        """
        guesses = [self.guess(text) for text in texts]
        sure = Counter(g.language for g in guesses if g.confidence >= MIN_CONFIDENCE)
        fallback = sure.most_common(1)[0][0] if sure else None
        return [g.language if g.confidence >= MIN_CONFIDENCE else fallback for g in guesses]


def article_text(article: ParsedArticle) -> str:
    return article.title + "\n" + article.body


def _non_latin_part(text: str) -> str | None:
    """The words written in a non-Latin script, when they are a real share of the letters."""
    letters = 0
    other = 0
    for ch in text:
        if ch.isalpha():
            letters += 1
            if ord(ch) > 0x24F and not _is_latin(ch):
                other += 1
    if other < NON_LATIN_MIN_LETTERS or other < NON_LATIN_SHARE * letters:
        return None
    words = [w for w in text.split() if any(c.isalpha() and ord(c) > 0x24F for c in w)]
    return " ".join(words)


def _is_latin(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("LATIN")
