"""The tracking service: gRPC API, Redis store, shared storage, Celery jobs, auth, client library and stack launcher.

The gRPC server (:mod:`.server`) runs no model for jobs: it validates, records in Redis (:mod:`.store`) and enqueues
Celery tasks (:mod:`.tasks`) that workers run with the engine, in process or through Triton. Video bytes live on
the shared storage (:mod:`.storage`). Live sessions (:mod:`.live`, off by default) keep their state in the server
and run the model in process or on Triton. :mod:`.stack` starts and stops the single-machine stack (``samem up``).
"""
