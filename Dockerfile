# The newsingest image: one image for the watcher and the workers (see docker-compose.yml).
#   docker build -t newsingest:local .
#   docker run --rm newsingest:local --help
# BASE_IMAGE: any Debian-like image with python3 (3.11+) and its venv module, e.g. the local
# one of docker/test/ where no registry can be reached:
#   docker build --build-arg BASE_IMAGE=newsingest-python:bookworm -t newsingest:local .
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# A fixed non-root user; its id owns the folders that the compose volumes are mounted on, so a
# new named volume starts out writable by it. The venv: the same layout on python:3.11-slim and
# on Debian's python3 (whose system site-packages pip refuses to touch).
RUN groupadd --system --gid 10001 newsingest \
 && useradd --system --uid 10001 --gid newsingest --home-dir /srv --no-create-home \
        --shell /usr/sbin/nologin newsingest \
 && mkdir -p /srv/inbox /srv/data \
 && chown -R newsingest:newsingest /srv \
 && python3 -m venv /opt/venv

WORKDIR /app
# Everything the pipeline needs comes from the package registry here, at build time, at the
# versions of the lock (constraints.txt): nothing is downloaded when a container starts (no
# models, no data). The dependencies first, with a stand-in package, so that a change of the
# code (or the README) alone reuses that layer (the dependencies are most of the build's time
# and size).
COPY pyproject.toml constraints.txt ./
RUN mkdir worker && echo '__version__ = "0"' > worker/__init__.py && touch README.md \
 && pip install -c constraints.txt . \
 && rm -rf worker build *.egg-info README.md
COPY README.md ./
COPY worker/ worker/
COPY config/ config/
RUN pip install -c constraints.txt . \
 && rm -rf build *.egg-info \
 && newsingest --help >/dev/null

ENV NEWSINGEST_INBOX=/srv/inbox \
    NEWSINGEST_DATA_DIR=/srv/data

USER newsingest
ENTRYPOINT ["newsingest"]
CMD ["--help"]
