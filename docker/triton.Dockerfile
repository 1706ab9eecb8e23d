# syntax=docker/dockerfile:1
# NVIDIA's Triton Inference Server with samem's ONNX repository baked in (the chart's triton.repository.source=image).
# The repository is generated, never committed: write it first, then build from the repository root:
#   samem export --model sam2.1_hiera_l:/models/sam_em.pt --variant onnx --out model_repository/gpu
#   docker build -f docker/triton.Dockerfile -t samem-triton:0.1.0 .
# The ONNX graphs contain the weights, so this image is specific to one checkpoint.
ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:24.10-py3

FROM ${TRITON_IMAGE}
ARG REPOSITORY=model_repository/gpu
# triton-server (uid 1000) is the non-root user of NVIDIA's image.
COPY --chown=1000:1000 ${REPOSITORY} /models
USER 1000:1000
EXPOSE 8000 8001 8002
HEALTHCHECK --interval=30s --timeout=5s --start-period=15m CMD ["curl", "-fsS", "http://127.0.0.1:8000/v2/health/ready"]
ENTRYPOINT ["tritonserver"]
CMD ["--model-repository=/models", "--strict-readiness=true", "--exit-on-error=true"]
