# Debian's PostgreSQL (15 in bookworm) on the locally built base: a stand-in for postgres:16
# where no registry can be reached. Like the official image it honours POSTGRES_USER,
# POSTGRES_PASSWORD and POSTGRES_DB (initdb on the first start, with that superuser and
# database) and keeps its data in /var/lib/postgresql/data; PGPORT sets the port.
ARG BASE_IMAGE=newsingest-base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
USER postgres
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
CMD ["postgres"]
