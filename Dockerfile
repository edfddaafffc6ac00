# Release image of tenantql.
#
# Oracle tenants need Oracle Instant Client (libclntsh.so) at run time. Its licence
# keeps it out of this repository: put the unzipped Basic Light package in
# docker/instantclient/ before building (it is copied to /opt/oracle/instantclient),
# or mount it there. Without it, Oracle tenants answer TENANT_UNAVAILABLE and all other
# tenants work.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin tenantql

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libaio1 \
 && rm -rf /var/lib/apt/lists/*
COPY docker/instantclient/ /opt/oracle/instantclient/
ENV LD_LIBRARY_PATH=/opt/oracle/instantclient
RUN useradd --system --home /var/lib/tenantql tenantql \
 && mkdir -p /var/lib/tenantql && chown tenantql /var/lib/tenantql
COPY --from=build /src/target/release/tenantql /usr/local/bin/tenantql
USER tenantql
ENV TENANTQL_DATA_DIR=/var/lib/tenantql TENANTQL_LISTEN=0.0.0.0:8080 TENANTQL_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["tenantql"]
CMD ["serve"]
