# syntax=docker/dockerfile:1
# The samem image: `samem serve` (gRPC service), `samem worker` (Celery worker), `samem export` (the chart's init
# container) and `samem triton` (a CPU Triton serving the python variant, from the nvidia-pytriton wheel).
# Build from the repository root:
#   docker build -f docker/samem.Dockerfile -t samem:0.1.0 .                                   # CPU torch
#   docker build -f docker/samem.Dockerfile --build-arg TORCH_INDEX=cu126 -t samem:0.1.0-cuda .  # CUDA torch
# Installs what the Makefile installs, the same way: torch pinned first (an unpinned torch pulls another build),
# then the package, then sam2 without its torchvision requirement and nvidia-pytriton without its dependencies.
ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# cpu, or a CUDA wheel index of download.pytorch.org such as cu126.
ARG TORCH_INDEX=cpu
ARG TORCH_VERSION=2.13.0
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/samem
ENV PATH=/opt/samem/bin:$PATH
RUN pip install --upgrade pip "setuptools<81" wheel \
 && pip install "torch==${TORCH_VERSION}" --index-url "https://download.pytorch.org/whl/${TORCH_INDEX}"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY services ./services
RUN pip install . \
 && SAM2_BUILD_CUDA=0 pip install --no-deps --no-build-isolation sam2==1.1.0 \
 && pip install --no-deps nvidia-pytriton==0.7.0

FROM ${PYTHON_IMAGE}
# libgomp: PyTorch's OpenMP runtime; tritonserver's own libraries come inside the nvidia-pytriton wheel.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 samem \
 && useradd --system --uid 10001 --gid samem --home-dir /home/samem --create-home samem \
 && install -d -o 10001 -g 10001 /data/samem /repository
COPY --from=build /opt/samem /opt/samem
ENV PATH=/opt/samem/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/home/samem \
    SAMEM_STORAGE=/data/samem
WORKDIR /home/samem
USER 10001:10001
# gRPC service, metrics, Triton HTTP / gRPC / metrics (python variant).
EXPOSE 50051 9100 8000 8001 8002
ENTRYPOINT ["samem"]
CMD ["--help"]
