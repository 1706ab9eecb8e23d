"""Service commands: ``serve`` (gRPC), ``worker`` (Celery), ``remote ...`` (a client), ``up``/``down`` (a stack)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from samem.argtypes import non_negative_int, positive_float, positive_int
from samem.errors import InputError


def _config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redis-url", help="Redis URL (env SAMEM_REDIS_URL; default redis://127.0.0.1:6379/0)")
    parser.add_argument("--storage", type=Path, help="shared storage directory (env SAMEM_STORAGE)")
    parser.add_argument("--prefix", help="Redis key prefix and Celery queue (env SAMEM_PREFIX; default samem)")
    parser.add_argument("--models", help="models offered per job: name=NAME[:CHECKPOINT],... (env SAMEM_MODELS; "
                        "default: the one --model / SAMEM_MODEL)")  # fmt: skip
    parser.add_argument("--default-model", help="catalogue name of the default model (env SAMEM_DEFAULT_MODEL; "
                        "default: the first)")  # fmt: skip


def _config(args: argparse.Namespace, **extra: object):  # -> ServiceConfig
    from samem.service.config import ServiceConfig

    return ServiceConfig.from_env(redis_url=args.redis_url, storage=args.storage, prefix=args.prefix,
                                  models=args.models, default_model=args.default_model, **extra)  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve``, ``worker`` and ``remote`` subcommands."""
    s = subparsers.add_parser(
        "serve",
        help="run the gRPC tracking service (no model: jobs go to Celery workers)",
        description="Serve the samem gRPC API (videos, prompts, jobs, results) with health checks and reflection "
        "until SIGTERM/SIGINT, then shut down gracefully. Settings: options, then SAMEM_* variables.",
    )
    _config_options(s)
    s.add_argument("--address", default="127.0.0.1:50051", help="HOST:PORT to listen on (default 127.0.0.1:50051)")
    s.add_argument("--tokens-file", type=Path, help="JSON {token: {user, admin}} (env SAMEM_TOKENS_FILE)")
    s.add_argument("--model", help="the one model offered when --models is not set (env SAMEM_MODEL)")
    s.add_argument("--tls-cert", type=Path, help="PEM certificate chain: serve with TLS (env SAMEM_TLS_CERT)")
    s.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert (env SAMEM_TLS_KEY)")
    s.set_defaults(handler=run_serve)

    w = subparsers.add_parser(
        "worker",
        help="run a Celery worker that tracks videos (in process or through Triton)",
        description="Run one Celery worker (one job at a time) for the service's queue. It checkpoints each job's "
        "engine state to Redis and resumes jobs whose worker died.",
    )
    _config_options(w)
    w.add_argument("--model", help="NAME[:CHECKPOINT] (env SAMEM_MODEL; default samem-compact)")
    w.add_argument("--image-size", type=positive_int, help="model input size (env SAMEM_IMAGE_SIZE)")
    w.add_argument("--backend", help="local or triton://HOST:PORT (env SAMEM_BACKEND; default local)")
    w.add_argument("--checkpoint-every", type=positive_int, help="frames between state checkpoints (default 10)")
    w.add_argument(
        "--model-cache-size",
        type=positive_int,
        help="models kept loaded, least recently used dropped (env SAMEM_MODEL_CACHE_SIZE; default 2)",
    )
    w.set_defaults(handler=run_worker)

    r = subparsers.add_parser(
        "remote",
        help="talk to a running service: upload, prompt, track, fetch results",
        description="Client commands; the token comes from --token or SAMEM_TOKEN.",
    )
    r.add_argument("--address", default=os.environ.get("SAMEM_ADDRESS", "127.0.0.1:50051"), help="service HOST:PORT")
    r.add_argument("--token", default=os.environ.get("SAMEM_TOKEN"), help="bearer token (env SAMEM_TOKEN)")
    r.add_argument(
        "--tls",
        action="store_true",
        default=os.environ.get("SAMEM_TLS", "").lower() in ("1", "true"),
        help="connect with TLS, trusting the system's CAs or --tls-ca (env SAMEM_TLS=1)",
    )
    r.add_argument(
        "--tls-ca",
        type=Path,
        default=os.environ.get("SAMEM_TLS_CA") or None,
        help="PEM CA certificate(s) to trust; implies --tls (env SAMEM_TLS_CA)",
    )
    r.add_argument("--tls-server-name", help="name to check the certificate against (default: the address's host)")
    actions = r.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("upload", help="upload a video file; prints its video id")
    up.add_argument("path")
    actions.add_parser("videos", help="list your videos")
    actions.add_parser("models", help="list the models this service offers per job")
    tr = actions.add_parser("track", help="prompt boxes on a video, propagate, wait, save trajectories.csv")
    tr.add_argument("video_id")
    tr.add_argument("--box", action="append", default=[], help="X0,Y0,X1,Y1 (particles 1, 2, ... in order)")
    tr.add_argument("--prompt-frame", type=int, default=0, help="frame of the boxes (default 0)")
    tr.add_argument("--model", default="", help="a model the service offers (`remote models`; default: its default)")
    tr.add_argument("--out", type=Path, default=Path("trajectories.csv"), help="where to write the table")
    jb = actions.add_parser("job", help="show a job")
    jb.add_argument("job_id")
    cn = actions.add_parser("cancel", help="cancel a job")
    cn.add_argument("job_id")
    au = actions.add_parser("audit", help="admins: the audit log of jobs, newest first (JSON lines)")
    au.add_argument("--limit", type=positive_int, default=100, help="at most this many events (default 100)")
    au.add_argument("--user", default="", help="only this user's actions")
    au.add_argument("--job", default="", help="only this job's events")
    r.set_defaults(handler=run_remote)

    u = subparsers.add_parser(
        "up",
        help="start the whole stack on this machine: Redis, (Triton,) service, worker, dashboard",
        description="Start Redis (unless one answers on --redis-url), optionally Triton, the gRPC service, one "
        "Celery worker and the Streamlit dashboard as background processes, wait until each is healthy, and "
        "record pids, ports, logs and a generated tokens file in the state directory. `samem down` stops them.",
    )
    u.add_argument("--state-dir", type=Path, help="where pids, logs and tokens go (default ~/.samem/stack)")
    u.add_argument("--redis-url", help="Redis URL to use or start (env SAMEM_REDIS_URL; default port 6379)")
    u.add_argument("--storage", type=Path, help="shared storage directory (default STATE_DIR/storage)")
    u.add_argument("--host", default="127.0.0.1", help="address every part listens on (default 127.0.0.1)")
    u.add_argument("--port", type=non_negative_int, default=50051, help="gRPC port (default 50051; 0: a free one)")
    u.add_argument("--dashboard-port", type=non_negative_int, default=8501, help="dashboard port (default 8501)")
    u.add_argument("--no-dashboard", action="store_true", help="do not start the Streamlit dashboard")
    u.add_argument("--backend", choices=("local", "triton"), default="local",
                   help="local: the engine inside the worker (default); triton: export the model and serve it "
                   "with a Triton server the stack starts")  # fmt: skip
    u.add_argument("--triton-port", type=non_negative_int, default=0, help="Triton gRPC port (default: a free one)")
    u.add_argument("--model", help="NAME[:CHECKPOINT] (env SAMEM_MODEL; default samem-compact)")
    u.add_argument("--image-size", type=positive_int, help="model input size (env SAMEM_IMAGE_SIZE)")
    u.add_argument("--timeout", type=positive_float, default=180.0, help="seconds each part may take (default 180)")
    u.set_defaults(handler=run_up)

    d = subparsers.add_parser(
        "down",
        help="stop the stack `samem up` started (a Redis it did not start is left alone)",
        description="Stop every process `samem up` recorded in the state directory, last started first: SIGTERM, "
        "then SIGKILL after --grace seconds. Running it again does nothing.",
    )
    d.add_argument("--state-dir", type=Path, help="the state directory of `samem up` (default ~/.samem/stack)")
    d.add_argument("--grace", type=positive_float, default=15.0, help="seconds before SIGKILL (default 15)")
    d.set_defaults(handler=run_down)


def run_serve(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    from samem.service.server import serve

    config = _config(args, tokens_file=args.tokens_file, model=args.model, tls_cert=args.tls_cert,
                     tls_key=args.tls_key)  # fmt: skip

    def ready(port: int) -> None:
        print(f"samem service ready on port {port}", flush=True)

    serve(config, args.address, ready=ready)
    return 0


def run_worker(args: argparse.Namespace) -> int:
    """Run a Celery worker in this process (solo pool: the task runs in this process, killable by its pid)."""
    import torch

    from samem.service.celery_app import Reaper, make_celery
    from samem.service.engine import worker_model
    from samem.service.store import Store
    from samem.serving.server import TritonError

    config = _config(
        args, model=args.model, image_size=args.image_size, backend=args.backend,
        checkpoint_every=args.checkpoint_every, model_cache_size=args.model_cache_size,
    )  # fmt: skip
    torch.set_num_threads(config.torch_threads)
    logging.getLogger("samem").setLevel(logging.INFO)
    try:
        worker_model(config)  # load the default model (or reach Triton) before taking jobs
    except TritonError as e:  # jobs retry with backoff until Triton answers (or fail with the reason)
        logging.getLogger("samem.worker").warning("%s; starting anyway, jobs will retry", e)
    app = make_celery(config)
    Reaper(
        app,
        Store.from_url(config.redis_url, prefix=config.prefix),
        lease_s=config.lease_s,
        requeue_after_s=config.requeue_after_s,
    ).start()
    app.worker_main(
        ["worker", "--pool=solo", "--concurrency=1", "--loglevel=INFO", f"--queues={config.prefix}",
         "--without-gossip", "--without-mingle", f"--hostname=samem-{os.getpid()}@%h"]
    )  # fmt: skip
    return 0


def run_remote(args: argparse.Namespace) -> int:
    """One client action."""
    from samem.client import Client
    from samem.service.api import tracking_pb2 as pb
    from samem.tracking.prompts import prompts_from_options

    if not args.token:
        raise InputError("no token: pass --token or set SAMEM_TOKEN")
    with Client(
        args.address, token=args.token, tls=args.tls, root_ca=args.tls_ca, server_name=args.tls_server_name
    ) as client:
        if args.action == "upload":
            print(client.upload_video(args.path).video_id)
        elif args.action == "videos":
            for v in client.list_videos():
                print(f"{v.video_id}\t{v.filename}\t{v.n_frames} frames\t{v.width}x{v.height}")
        elif args.action == "models":
            for m in client.list_models():
                print(f"{m.name}{' (default)' if m.is_default else ''}\t{m.description}\t{m.checkpoint_sha256[:12]}")
        elif args.action == "track":
            client.set_prompts(args.video_id, prompts_from_options(args.box, [], frame=args.prompt_frame))
            job = client.start_propagation(args.video_id, model=args.model)
            for event in client.watch(job.job_id):
                print(f"{pb.JobState.Name(event.job.state)} {event.job.frames_done}/{event.job.frames_total}",
                      file=sys.stderr)  # fmt: skip
            job = client.get_job(job.job_id)
            if job.state != pb.SUCCEEDED:
                raise InputError(f"job {job.job_id} ended {pb.JobState.Name(job.state)}: {job.error}")
            args.out.write_bytes(client.trajectories_csv(job.job_id))
            print(f"{job.job_id}: wrote {args.out} (model {job.model})")
        elif args.action == "audit":
            for e in client.audit_events(limit=args.limit, user=args.user, job_id=args.job):
                print(json.dumps({"time_unix": e.time_unix, "user": e.user, "action": e.action, "job_id": e.job_id,
                                  "video_id": e.video_id, "kind": pb.JobKind.Name(e.kind),
                                  "outcome": pb.JobState.Name(e.outcome), "detail": e.detail}))  # fmt: skip
        elif args.action in ("job", "cancel"):
            job = client.get_job(args.job_id) if args.action == "job" else client.cancel(args.job_id)
            record = {"job_id": job.job_id, "state": pb.JobState.Name(job.state), "frames_done": job.frames_done,
                      "frames_total": job.frames_total, "error": job.error, "resumes": job.resumes}  # fmt: skip
            print(json.dumps(record))
    return 0


def run_up(args: argparse.Namespace) -> int:
    """Start the stack and print where everything is."""
    from samem.service.stack import DEFAULT_STATE_DIR, StackOptions, up

    options = StackOptions(
        state_dir=args.state_dir or DEFAULT_STATE_DIR, host=args.host, port=args.port,
        dashboard=not args.no_dashboard, dashboard_port=args.dashboard_port, backend=args.backend,
        triton_port=args.triton_port, redis_url=args.redis_url, storage=args.storage, model=args.model,
        image_size=args.image_size, timeout_s=args.timeout,
    )  # fmt: skip
    state = up(options)
    print(f"samem stack up (state {state.state_dir}):")
    for part in state.parts:
        where = f"pid {part.pid}, log {part.log}" if part.started else "already running, left alone"
        print(f"  {part.name:<10} {part.address}  ({where})")
    for notice in state.notices:
        print(f"  note: {notice}")
    print(f"tokens: {state.tokens_file} (admin token: {state.admin_token})")
    print(f"export SAMEM_ADDRESS={state.address} SAMEM_TOKEN={state.token}")
    print(f"stop with: samem down --state-dir {state.state_dir}")
    return 0


def run_down(args: argparse.Namespace) -> int:
    """Stop the stack."""
    from samem.service.stack import DEFAULT_STATE_DIR, down

    state_dir = args.state_dir or DEFAULT_STATE_DIR
    stopped = down(state_dir, grace_s=args.grace)
    print(f"stopped {', '.join(stopped)}" if stopped else f"nothing running from {state_dir}")
    return 0
