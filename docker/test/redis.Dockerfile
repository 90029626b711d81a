# Debian's Redis (7.0 in bookworm) on the locally built base: a stand-in for redis:7 where no
# registry can be reached. Runs as the redis user; data in /data, as in the official image.
ARG BASE_IMAGE=newsingest-base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
CMD ["redis-server"]
