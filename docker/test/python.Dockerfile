# Debian's Python on the locally built base: a stand-in for python:3.11-slim where no registry
# can be reached (the smoke test, docker/test/smoke.sh). Build context: a folder holding the
# machine's CA bundle as ca-certificates.crt (the smoke test makes it), so that pip and apt
# inside later builds trust what the machine trusts (an egress proxy's CA, for one).
ARG BASE_IMAGE=newsingest-base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
