"""``samem serve`` (the gRPC service), ``samem worker`` (a Celery worker) and ``samem remote ...`` (a client)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from samem.argtypes import positive_int
from samem.errors import InputError


def _config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redis-url", help="Redis URL (env SAMEM_REDIS_URL; default redis://127.0.0.1:6379/0)")
    parser.add_argument("--storage", type=Path, help="shared storage directory (env SAMEM_STORAGE)")
    parser.add_argument("--prefix", help="Redis key prefix and Celery queue (env SAMEM_PREFIX; default samem)")


def _config(args: argparse.Namespace, **extra: object):  # -> ServiceConfig
    from samem.service.config import ServiceConfig

    return ServiceConfig.from_env(redis_url=args.redis_url, storage=args.storage, prefix=args.prefix, **extra)


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
    w.set_defaults(handler=run_worker)

    r = subparsers.add_parser(
        "remote",
        help="talk to a running service: upload, prompt, track, fetch results",
        description="Client commands; the token comes from --token or SAMEM_TOKEN.",
    )
    r.add_argument("--address", default=os.environ.get("SAMEM_ADDRESS", "127.0.0.1:50051"), help="service HOST:PORT")
    r.add_argument("--token", default=os.environ.get("SAMEM_TOKEN"), help="bearer token (env SAMEM_TOKEN)")
    actions = r.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("upload", help="upload a video file; prints its video id")
    up.add_argument("path")
    actions.add_parser("videos", help="list your videos")
    tr = actions.add_parser("track", help="prompt boxes on a video, propagate, wait, save trajectories.csv")
    tr.add_argument("video_id")
    tr.add_argument("--box", action="append", default=[], help="X0,Y0,X1,Y1 (particles 1, 2, ... in order)")
    tr.add_argument("--prompt-frame", type=int, default=0, help="frame of the boxes (default 0)")
    tr.add_argument("--out", type=Path, default=Path("trajectories.csv"), help="where to write the table")
    jb = actions.add_parser("job", help="show a job")
    jb.add_argument("job_id")
    cn = actions.add_parser("cancel", help="cancel a job")
    cn.add_argument("job_id")
    r.set_defaults(handler=run_remote)


def run_serve(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    from samem.service.server import serve

    config = _config(args, tokens_file=args.tokens_file)

    def ready(port: int) -> None:
        print(f"samem service ready on port {port}", flush=True)

    serve(config, args.address, ready=ready)
    return 0


def run_worker(args: argparse.Namespace) -> int:
    """Run a Celery worker in this process (solo pool: the task runs in this process, killable by its pid)."""
    import torch

    from samem.service.celery_app import Reaper, make_celery
    from samem.service.engine import worker_backend
    from samem.service.store import Store

    config = _config(
        args, model=args.model, image_size=args.image_size, backend=args.backend, checkpoint_every=args.checkpoint_every
    )
    torch.set_num_threads(config.torch_threads)
    logging.getLogger("samem").setLevel(logging.INFO)
    worker_backend(config)  # load the model (or reach Triton) before taking jobs
    app = make_celery(config)
    Reaper(app, Store.from_url(config.redis_url, prefix=config.prefix), lease_s=config.lease_s).start()
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
    with Client(args.address, token=args.token) as client:
        if args.action == "upload":
            print(client.upload_video(args.path).video_id)
        elif args.action == "videos":
            for v in client.list_videos():
                print(f"{v.video_id}\t{v.filename}\t{v.n_frames} frames\t{v.width}x{v.height}")
        elif args.action == "track":
            client.set_prompts(args.video_id, prompts_from_options(args.box, [], frame=args.prompt_frame))
            job = client.start_propagation(args.video_id)
            for event in client.watch(job.job_id):
                print(f"{pb.JobState.Name(event.job.state)} {event.job.frames_done}/{event.job.frames_total}",
                      file=sys.stderr)  # fmt: skip
            job = client.get_job(job.job_id)
            if job.state != pb.SUCCEEDED:
                raise InputError(f"job {job.job_id} ended {pb.JobState.Name(job.state)}: {job.error}")
            args.out.write_bytes(client.trajectories_csv(job.job_id))
            print(f"{job.job_id}: wrote {args.out}")
        elif args.action in ("job", "cancel"):
            job = client.get_job(args.job_id) if args.action == "job" else client.cancel(args.job_id)
            record = {"job_id": job.job_id, "state": pb.JobState.Name(job.state), "frames_done": job.frames_done,
                      "frames_total": job.frames_total, "error": job.error, "resumes": job.resumes}  # fmt: skip
            print(json.dumps(record))
    return 0
