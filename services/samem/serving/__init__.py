"""Serving the engine's stateless steps from Triton Inference Server.

Owns: the typed Triton model specs and their ``config.pbtxt`` (:mod:`.spec`), writing model repositories
(:mod:`.repository`; python-backend variant for CPUs, ONNX variant for GPUs via :mod:`.export`), running a real
``tritonserver`` on loopback (:mod:`.server`), and :class:`TritonBackend`, the engine backend that calls Triton over
gRPC (:mod:`.triton_backend`). Must not hold per-video state: that stays in the engine.
"""
