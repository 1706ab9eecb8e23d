"""The tracking service: gRPC API, Redis store, shared storage, Celery jobs, auth, client library and stack launcher.

The gRPC server (:mod:`.server`) never runs a model: it validates, records in Redis (:mod:`.store`) and enqueues
Celery tasks (:mod:`.tasks`) that workers run with the engine, in process or through Triton. Video bytes live on
the shared storage (:mod:`.storage`).
"""
