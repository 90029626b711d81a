"""newsingest: news dump files in, clean de-duplicated enriched article records out."""

# The package version, and the pipeline version stored in every record: bump it when parsing or
# enrichment changes what a record holds (`newsingest reenrich --older-than` finds older records).
__version__ = "0.4.0"
PIPELINE_VERSION = __version__
