# Flower from PyPI on the local Python image: a stand-in for mher/flower:2.0 where no registry
# can be reached. The same version line (2.0) and entry point (`celery ... flower`), and python
# for the compose file's health check.
ARG BASE_IMAGE=newsingest-python:bookworm
FROM ${BASE_IMAGE}
RUN python3 -m venv /opt/flower \
 && /opt/flower/bin/pip install --no-cache-dir flower==2.0.1 'celery[redis]>=5.4,<6'
ENV PATH=/opt/flower/bin:$PATH
RUN useradd --system --uid 10002 --no-create-home --shell /usr/sbin/nologin flower
USER flower
