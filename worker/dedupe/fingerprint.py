"""Article identity: the same text gives the same id, on every machine, in every encoding."""

from __future__ import annotations

import hashlib
import unicodedata

from worker.models import ParsedArticle


def normalise_text(text: str) -> str:
    """Compatibility-normalised, case-folded text with all runs of whitespace made one space.

    Case and spacing differ between scrapes of the same page (upper-case feeds, re-wrapped lines);
    they are not what makes two articles different.
    """
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def article_id(article: ParsedArticle) -> str:
    """Hex sha256 of the normalised title and body, separated so that they cannot run together."""
    payload = normalise_text(article.title) + "\x1f" + normalise_text(article.body)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
