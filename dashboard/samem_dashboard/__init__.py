"""The samem dashboard: a Streamlit app for core-facility users that talks only to the gRPC tracking service.

One module per job: ``config`` (environment), ``session`` (per-browser state), ``errors`` (plain-sentence error
boundary), ``sidebar`` (sign-in, videos, jobs), ``videos`` (step 1), ``prompts`` with ``boxes`` (step 2),
``jobs`` (step 3), ``results`` with ``plots`` (step 4), ``frames`` (frames, overlays) and ``colors``.
It must not touch Redis, Triton or the storage's service folders directly.
"""
