"""newsingest: news dump files in, clean de-duplicated enriched article records out."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("newsingest")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

# Stored in every record: bump when parsing or enrichment changes what a record holds.
PIPELINE_VERSION = f"{__version__}+p1"
