"""Full-text search over title and body, through each backend's own index (migration 0002).

The user's words are read the way web search boxes read them, on both backends: words must all
occur, ``"a phrase"`` in that order, ``OR`` between two alternatives, ``-word`` must not occur.
PostgreSQL parses them with ``websearch_to_tsquery`` in the text search configuration of each
language the store holds (an article's ``search`` vector was made in its own language's), so an
English query finds ``elections`` by ``election``; SQLite's FTS5 index stems with Porter (English)
and folds case and diacritics for every language.
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, func, literal_column, text

from worker.store.schema import articles

_WORD = re.compile(r"\w")
# a "quoted phrase" (perhaps -"excluded"), or a word
_TOKEN = re.compile(r'(-?)"([^"]*)"|(\S+)')


def search_clause(dialect: str, query: str, language: str | None = None) -> ColumnElement[bool]:
    """A WHERE clause over ``articles``: the records whose title or body match ``query``.

    PostgreSQL: each article's ``search`` vector was made in its own language's configuration,
    so the query must be read in that one too (an excluded ``-word`` stemmed otherwise would
    not exclude). With ``language`` (the filter's), one configuration for every candidate: one
    ``@@`` that the GIN index on ``search`` answers. Without, each row's own configuration
    (``newsingest_ts_config(articles.language)`` of migration 0002): always right, but a scan
    of the candidates, so `--language` makes a search on a big store fast."""
    if not query.strip():
        raise ValueError("nothing to search for: an empty search")
    if dialect == "postgresql":
        vector = literal_column("articles.search")
        config = func.newsingest_ts_config(language if language else articles.c.language)
        return vector.op("@@")(func.websearch_to_tsquery(config, query))
    match = fts5_query(query)
    return articles.c.id.in_(
        text(
            "SELECT article_id FROM articles_fts_map WHERE rowid IN "
            "(SELECT rowid FROM articles_fts WHERE articles_fts MATCH :fts_query)"
        ).bindparams(fts_query=match)
    )


def fts5_query(query: str) -> str:
    """The web-search syntax above as an FTS5 query, every word quoted (so that no character
    of the user's is FTS5 syntax): ``a b OR c -d "e f"`` -> ``"a" ("b" OR "c") "e f" NOT "d"``."""
    wanted: list[str] = []
    unwanted: list[str] = []
    pending_or = False
    for negated_phrase, phrase, word in _TOKEN.findall(query):
        if word == "OR" and wanted:
            pending_or = True
            continue
        negated = bool(negated_phrase) or (word.startswith("-") and len(word) > 1)
        term = phrase if phrase or negated_phrase else word.removeprefix("-") if negated else word
        if not _WORD.search(term):
            continue  # punctuation alone: no token to match (and an FTS5 syntax error)
        quoted = '"' + term.replace('"', '""') + '"'
        if negated:
            unwanted.append(quoted)
        elif pending_or:
            wanted[-1] = f"({wanted[-1].strip('()')} OR {quoted})"
        else:
            wanted.append(quoted)
        pending_or = False
    if not wanted:
        raise ValueError(f"nothing to search for in {query!r}: no word that must occur")
    return " ".join(wanted) + "".join(f" NOT {term}" for term in unwanted)
