"""A schema for the people who query the store (newsingest 0.3.0).

PostgreSQL: ``jsonb`` for every JSON column, ``timestamptz`` for every time (the ledger's epoch
seconds and the articles' ISO ``ingested_at``), GIN indexes for countries and entity names, a
stored ``search`` tsvector (title weighted above body, in the article language's text search
configuration, ``simple`` where PostgreSQL has none) with its GIN index.
SQLite: JSON stays JSON1 text and times stay as they were (epoch REAL, ISO text); a contentless
FTS5 index ``articles_fts`` over title and body, kept by triggers, through ``articles_fts_map``
(FTS rowid -> article id: an article's own rowid is not stable across VACUUM).
Both: an index on ``language`` and the ``canonical_articles`` view (one row per story).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_EPOCH_COLUMNS = {
    "files": ("lease_until", "enqueued_at", "next_send_at", "created_at", "updated_at"),
    "chunks": ("lease_until", "enqueued_at", "next_send_at"),
    "drops": ("dropped_at",),
}
_JSON_COLUMNS = {
    "files": ("error",),
    "articles": ("entities", "countries", "keywords", "quotes", "enrich_errors"),
}
# ISO 639-1 (what the language enricher writes) -> PostgreSQL's built-in text search
# configurations (PostgreSQL 13 and later); any other language is indexed with 'simple'.
TS_CONFIGS = {
    "ar": "arabic",
    "ca": "catalan",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "eu": "basque",
    "fi": "finnish",
    "fr": "french",
    "ga": "irish",
    "hi": "hindi",
    "hu": "hungarian",
    "hy": "armenian",
    "id": "indonesian",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "nl": "dutch",
    "no": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}

_CANONICAL_VIEW = """
CREATE VIEW canonical_articles AS
SELECT a.*,
       (SELECT count(*) FROM articles v WHERE v.duplicate_of = a.id) AS versions,
       (SELECT max(v.ingested_at) FROM articles v WHERE v.duplicate_of = a.id) AS last_version_at,
       (SELECT count(*) FROM sources s WHERE s.article_id = a.id) AS sightings
FROM articles a
WHERE a.duplicate_of IS NULL
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()
    op.create_index("ix_articles_language", "articles", ["language"])
    op.execute(_CANONICAL_VIEW)


def _upgrade_postgresql() -> None:
    # The ALTERs rewrite their tables, which may take a while on a big store: no timeouts here.
    op.execute("SET LOCAL statement_timeout = 0")
    op.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
    for table, columns in _EPOCH_COLUMNS.items():
        op.execute(
            f"ALTER TABLE {table} "
            + ", ".join(
                f"ALTER COLUMN {c} TYPE timestamptz USING to_timestamp({c})" for c in columns
            )
        )
    op.execute(
        "ALTER TABLE articles ALTER COLUMN ingested_at TYPE timestamptz "
        "USING ingested_at::timestamptz"
    )
    for table, columns in _JSON_COLUMNS.items():
        op.execute(
            f"ALTER TABLE {table} "
            + ", ".join(f"ALTER COLUMN {c} TYPE jsonb USING {c}::jsonb" for c in columns)
        )
    cases = " ".join(f"WHEN '{code}' THEN '{name}'" for code, name in TS_CONFIGS.items())
    op.execute(
        f"""
        CREATE FUNCTION newsingest_ts_config(language text) RETURNS regconfig
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT (CASE language {cases} ELSE 'simple' END)::regconfig $$
        """
    )
    # kind:lower(name) for every entity of a record: ``--person`` and friends find a name in any
    # case through one GIN index (entities is JSON null on articles that were not analysed)
    op.execute(
        """
        CREATE FUNCTION newsingest_entity_keys(entities jsonb) RETURNS text[]
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$
          SELECT coalesce(array_agg(kind || ':' || lower(entity ->> 'text')), '{}')
          FROM jsonb_each(CASE jsonb_typeof(entities) WHEN 'object' THEN entities
                          ELSE '{}'::jsonb END) AS found(kind, list),
               jsonb_array_elements(CASE jsonb_typeof(list) WHEN 'array' THEN list
                                    ELSE '[]'::jsonb END) AS entity
        $$
        """
    )
    op.execute(
        "CREATE INDEX ix_articles_entity_keys ON articles "
        "USING gin (newsingest_entity_keys(entities))"
    )
    op.execute("CREATE INDEX ix_articles_countries ON articles USING gin (countries)")
    op.execute(
        """
        ALTER TABLE articles ADD COLUMN search tsvector GENERATED ALWAYS AS (
          setweight(to_tsvector(newsingest_ts_config(language), coalesce(title, '')), 'A') ||
          setweight(to_tsvector(newsingest_ts_config(language), coalesce(body, '')), 'B')
        ) STORED
        """
    )
    op.execute("CREATE INDEX ix_articles_search ON articles USING gin (search)")


def _upgrade_sqlite() -> None:
    op.execute("CREATE TABLE articles_fts_map (rowid INTEGER PRIMARY KEY, article_id TEXT UNIQUE)")
    op.execute(
        "CREATE VIRTUAL TABLE articles_fts USING fts5(title, body, content='', "
        "tokenize='porter unicode61 remove_diacritics 2')"
    )
    # An article's text never changes (its id is the hash of it): insert and delete are all.
    op.execute(
        """
        CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
          INSERT INTO articles_fts_map (article_id) VALUES (new.id);
          INSERT INTO articles_fts (rowid, title, body)
            VALUES (last_insert_rowid(), new.title, new.body);
        END
        """
    )
    op.execute(
        """
        CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
          INSERT INTO articles_fts (articles_fts, rowid, title, body)
            SELECT 'delete', rowid, old.title, old.body FROM articles_fts_map
            WHERE article_id = old.id;
          DELETE FROM articles_fts_map WHERE article_id = old.id;
        END
        """
    )
    op.execute("INSERT INTO articles_fts_map (article_id) SELECT id FROM articles ORDER BY rowid")
    op.execute(
        "INSERT INTO articles_fts (rowid, title, body) "
        "SELECT m.rowid, a.title, a.body FROM articles_fts_map m "
        "JOIN articles a ON a.id = m.article_id"
    )


def downgrade() -> None:
    op.execute("DROP VIEW canonical_articles")
    op.drop_index("ix_articles_language", "articles")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE articles DROP COLUMN search")
        op.execute("DROP INDEX ix_articles_countries")
        op.execute("DROP INDEX ix_articles_entity_keys")
        op.execute("DROP FUNCTION newsingest_entity_keys(jsonb)")
        op.execute("DROP FUNCTION newsingest_ts_config(text)")
        for table, columns in _JSON_COLUMNS.items():
            op.execute(
                f"ALTER TABLE {table} "
                + ", ".join(f"ALTER COLUMN {c} TYPE json USING {c}::json" for c in columns)
            )
        op.execute(
            "ALTER TABLE articles ALTER COLUMN ingested_at TYPE varchar(40) "
            "USING to_json(ingested_at AT TIME ZONE 'UTC')#>>'{}' || '+00:00'"
        )
        for table, columns in _EPOCH_COLUMNS.items():
            op.execute(
                f"ALTER TABLE {table} "
                + ", ".join(
                    f"ALTER COLUMN {c} TYPE double precision USING extract(epoch FROM {c})"
                    for c in columns
                )
            )
    else:
        op.execute("DROP TRIGGER articles_fts_delete")
        op.execute("DROP TRIGGER articles_fts_insert")
        op.execute("DROP TABLE articles_fts")
        op.execute("DROP TABLE articles_fts_map")
