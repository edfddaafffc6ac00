# Release image of tenantql. The Oracle backend (data-plane work) will need Oracle
# Instant Client at run time; it is added to this image when that backend lands.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin tenantql

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/tenantql tenantql \
 && mkdir -p /var/lib/tenantql && chown tenantql /var/lib/tenantql
COPY --from=build /src/target/release/tenantql /usr/local/bin/tenantql
USER tenantql
ENV TENANTQL_DATA_DIR=/var/lib/tenantql TENANTQL_LISTEN=0.0.0.0:8080 TENANTQL_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["tenantql"]
CMD ["serve"]
