# Release image of tenantql.
#
# Oracle tenants need Oracle Instant Client (libclntsh.so) at run time. The runtime
# stage fetches Instant Client Basic Light at build time from Oracle's download
# site, pinned to one version and its SHA-256 (the build fails on any other file),
# as Oracle's own container images install a pinned client. To use a client you
# already have (no download, or another version), unzip it into
# docker/instantclient/ before building: a libclntsh.so there wins. Pin another
# download with --build-arg INSTANTCLIENT_URL=… --build-arg INSTANTCLIENT_SHA256=…
# (Oracle publishes each file's SHA-256 on the Instant Client download page).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin tenantql

FROM debian:bookworm-slim AS runtime
ARG INSTANTCLIENT_URL=https://download.oracle.com/otn_software/linux/instantclient/217000/instantclient-basiclite-linux.x64-21.7.0.0.0dbru.zip
ARG INSTANTCLIENT_SHA256=8a745ad7f4290ff8f7bd1d9436f6afdf07644e390b5d6acc3dc50978687795cb
COPY docker/instantclient/ /tmp/instantclient-local/
RUN set -eu; \
    apt-get update; \
    apt-get install -y --no-install-recommends libaio1 ca-certificates curl unzip; \
    mkdir -p /opt/oracle/instantclient; \
    if ls /tmp/instantclient-local/libclntsh.so* >/dev/null 2>&1; then \
      echo "using the Instant Client from docker/instantclient/"; \
      cp -a /tmp/instantclient-local/. /opt/oracle/instantclient/; \
    else \
      curl -fsSL --retry 3 -o /tmp/instantclient.zip "$INSTANTCLIENT_URL"; \
      echo "$INSTANTCLIENT_SHA256  /tmp/instantclient.zip" | sha256sum -c -; \
      unzip -q /tmp/instantclient.zip -d /tmp/instantclient-unzipped; \
      cp -a /tmp/instantclient-unzipped/instantclient_*/. /opt/oracle/instantclient/; \
    fi; \
    rm -rf /tmp/instantclient*; \
    apt-get purge -y curl unzip; apt-get autoremove -y; rm -rf /var/lib/apt/lists/*; \
    test -e /opt/oracle/instantclient/libclntsh.so || ls /opt/oracle/instantclient/libclntsh.so.* >/dev/null
ENV LD_LIBRARY_PATH=/opt/oracle/instantclient
RUN useradd --system --home /var/lib/tenantql tenantql \
 && mkdir -p /var/lib/tenantql && chown tenantql /var/lib/tenantql
COPY --from=build /src/target/release/tenantql /usr/local/bin/tenantql
COPY docker/register-tenants.sh /usr/local/bin/tenantql-register-tenants
USER tenantql
ENV TENANTQL_DATA_DIR=/var/lib/tenantql TENANTQL_LISTEN=0.0.0.0:8080 TENANTQL_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["tenantql"]
CMD ["serve"]
