# Multi-stage build of the précis binary; used by docker-compose.yml.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY assets ./assets
RUN cargo build --release --locked --bin precis

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/precis /usr/local/bin/precis
COPY --from=build /src/assets /usr/share/precis/assets
USER 10001
ENTRYPOINT ["precis"]
