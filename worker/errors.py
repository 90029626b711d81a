"""One exception hierarchy, sorted by what the pipeline does about each kind."""

from __future__ import annotations


class IngestError(Exception):
    """Root of every error newsingest raises on purpose."""

    code = "ingest_error"
    hint = "see the message"

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def report(self) -> dict[str, object]:
        """What goes into ``NAME.error.json`` beside a failed file."""
        return {"code": self.code, "message": self.message, "line": self.line, "hint": self.hint}


class DumpError(IngestError):
    """The file itself is unusable: quarantine it, never retry."""

    code = "bad_dump"
    hint = "fix or replace the file, then run `newsingest requeue FILE`"


class EmptyDumpError(DumpError):
    code = "empty_file"
    hint = "the file holds no text; check the exporter that wrote it"


class NoArticlesError(DumpError):
    code = "no_articles"
    hint = "no article in the dump format was found; check that this is a news dump"


class UndecodableError(DumpError):
    code = "undecodable"
    hint = "the bytes are not text in any supported encoding; re-export the dump as UTF-8"


class BinaryFileError(DumpError):
    code = "binary_file"
    hint = "this is not a text dump (an image, an executable, random bytes?); drop the dump itself"


class LineTooLongError(DumpError):
    code = "line_too_long"
    hint = "a dump's lines are paragraphs; check that the file is a dump and not one huge blob"


class CompressionBombError(DumpError):
    code = "compression_bomb"
    hint = "the archive expands past the size or ratio limits; unpack it yourself if it is genuine"


class CorruptArchiveError(DumpError):
    code = "corrupt_archive"
    hint = "the archive cannot be unpacked; compress the dump again and drop the new archive"


class FileChangedError(DumpError):
    code = "file_changed"
    hint = "the file changed or vanished after it was taken; drop it again once it is complete"


class NotRegularFileError(DumpError):
    """The inbox entry is not a regular file (a symlink, a FIFO, a socket, a device, a folder),
    or became one after it was noticed. Nothing was read from it."""

    code = "not_a_regular_file"
    hint = (
        "only regular files are taken; symlinks are never followed. Drop the file itself "
        "(copy it into the inbox)"
    )


class ArticleTooLongError(DumpError):
    code = "article_too_long"
    hint = (
        "articles are separated by three blank lines; a dump without those separators reads as "
        "one huge article. Check the exporter that wrote it"
    )


class ArticleError(IngestError):
    """One article could not be processed: it is counted as failed and the file goes on."""

    code = "bad_article"


class TransientError(IngestError):
    """The store or the broker is away: retry with backoff, never quarantine for this."""

    code = "transient"
    hint = "retried automatically"


class ConfigurationError(IngestError):
    """The installation is misconfigured (e.g. settings that do not match the store): work
    pauses, logged loudly, and the files wait; no file is quarantined for it."""

    code = "configuration"
    hint = "fix the configuration; the waiting files are taken again by themselves"
