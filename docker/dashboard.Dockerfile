# syntax=docker/dockerfile:1
# The dashboard image: the samem package with its `dashboard` extra (Streamlit), serving dashboard/app.py on 8501.
# It is a client of the gRPC service only: SAMEM_ADDRESS=HOST:PORT and SAMEM_TOKEN configure it.
#   docker build -f docker/dashboard.Dockerfile -t samem-dashboard:0.1.0 .
ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_VERSION=2.13.0
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/samem
ENV PATH=/opt/samem/bin:$PATH
# The package depends on torch: pin the CPU build first, as the Makefile does (the dashboard runs no model).
RUN pip install --upgrade pip "setuptools<81" wheel \
 && pip install "torch==${TORCH_VERSION}" --index-url https://download.pytorch.org/whl/cpu
WORKDIR /src
COPY pyproject.toml README.md ./
COPY services ./services
RUN pip install ".[dashboard]"

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 samem \
 && useradd --system --uid 10001 --gid samem --home-dir /home/samem --create-home samem
COPY --from=build /opt/samem /opt/samem
COPY dashboard /app/dashboard
ENV PATH=/opt/samem/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/home/samem \
    PYTHONPATH=/app/dashboard \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false
WORKDIR /app
USER 10001:10001
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]
ENTRYPOINT ["streamlit", "run", "dashboard/app.py", "--server.port", "8501", "--server.headless", "true", "--server.address", "0.0.0.0"]
