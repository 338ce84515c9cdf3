# One image for the API and the workers. Pick the torch build at build time:
#   docker build -t lossdoctor .                              # CPU torch (default)
#   docker build -t lossdoctor --build-arg TORCH_VARIANT=cu124 .  # CUDA 12.4 torch, for GPU workers
FROM python:3.11-slim

ARG TORCH_VARIANT=cpu
ARG TORCH_VERSION=2.13.0

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# torch first, from the index of the chosen variant, so the project's own install never pulls another build.
RUN pip install "torch==${TORCH_VERSION}" --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}"

COPY pyproject.toml README.md ./
COPY lossdoctor ./lossdoctor
COPY service ./service
COPY worker ./worker
COPY examples ./examples
RUN pip install .

# The image's user owns its data directory, made before VOLUME so a new named volume starts out owned by it
# (Docker copies the image's directory, owner included, into an empty named volume).
RUN useradd --create-home --uid 10001 lossdoctor \
    && mkdir -p /data \
    && chown lossdoctor:lossdoctor /data
VOLUME /data
USER lossdoctor

EXPOSE 8000
# `lossdoctor up` runs Redis (append-only file in /data/redis), the API and a worker in this one container;
# on 0.0.0.0 it refuses to start without LOSSDOCTOR_API_KEYS.
# docker-compose.yml runs the parts separately: `lossdoctor api` and `lossdoctor worker`.
CMD ["lossdoctor", "up", "--host", "0.0.0.0", "--port", "8000", "--data-dir", "/data"]
