"""The ``samem export`` and ``samem triton`` subcommands: write a Triton repository; serve one on loopback."""

from __future__ import annotations

import argparse

from samem.argtypes import non_negative_int, positive_int

DEFAULT_REPOSITORY = "model_repository/cpu"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` and ``triton`` subcommands."""
    p = subparsers.add_parser(
        "export",
        help="write a Triton model repository (the engine's four steps) for a checkpoint",
        description="Write a versioned Triton model repository serving the engine's stateless steps for a model: "
        "the python-backend variant (CPU, PyTorch inside; references the checkpoint by path and SHA-256) or the "
        "ONNX variant (GPU; exported graphs with real-valued RoPE, checked against PyTorch).",
    )
    p.add_argument("--model", default="samem-compact", help="NAME[:CHECKPOINT] (default samem-compact, shipped)")
    p.add_argument("--out", default=DEFAULT_REPOSITORY, help=f"repository directory (default {DEFAULT_REPOSITORY})")
    p.add_argument("--variant", choices=("python", "onnx"), default="python", help="python (CPU) or onnx (GPU)")
    p.add_argument("--image-size", type=positive_int, help="input size (default: the checkpoint's or config's)")
    p.add_argument("--version", type=positive_int, default=1, help="model version directory (default 1)")
    p.add_argument("--max-batch-size", type=positive_int, default=4, help="frames per batched encode (default 4)")
    p.add_argument(
        "--precision", choices=("fp32", "bf16"), default="fp32", help="python variant: fp32 (default) or bf16 autocast"
    )
    p.add_argument("--instances", type=positive_int, default=1, help="instances of each step model (default 1)")
    p.add_argument("--device", default="cpu", help="where the python variant runs PyTorch: cpu (default) or cuda[:N]")
    p.set_defaults(handler=run_export)

    t = subparsers.add_parser(
        "triton",
        help="run a Triton Inference Server with a samem repository on this machine",
        description="Start a real Triton Inference Server (from the nvidia-pytriton wheel) on loopback, wait until "
        "every model is ready, print its gRPC address and serve until interrupted (Ctrl-C or SIGTERM). Without "
        "--repository the python variant of --model is exported to a temporary directory first.",
    )
    t.add_argument("--repository", help="a repository written by `samem export` (python variant)")
    t.add_argument("--model", default="samem-compact", help="NAME[:CHECKPOINT] to export when no --repository")
    t.add_argument("--image-size", type=positive_int, help="input size when exporting (no --repository)")
    t.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    t.add_argument("--grpc-port", type=non_negative_int, default=8001, help="gRPC port (default 8001; 0: a free one)")
    t.add_argument("--http-port", type=non_negative_int, default=8000, help="HTTP port (default 8000; 0: a free one)")
    t.add_argument("--metrics-port", type=non_negative_int, default=8002, help="metrics port (default 8002; 0: free)")
    t.add_argument("--threads", type=positive_int, help="PyTorch threads per model (default: all cores)")
    t.add_argument("--log", help="server log file (default: a temporary file)")
    t.set_defaults(handler=run_triton)


def run_export(args: argparse.Namespace) -> int:
    """Write the repository and say what is in it."""
    from samem.serving.repository import write_repository

    repo = write_repository(
        args.out,
        args.model,
        variant=args.variant,
        image_size=args.image_size,
        version=args.version,
        max_batch_size=args.max_batch_size,
        device=args.device,
        precision=args.precision,
        instances=args.instances,
    )
    served = repo.served
    print(
        f"wrote the {repo.variant} repository (version {repo.version}) of {served.spec} at"
        f" {served.settings.image_size} px ({served.device}, {served.precision}) to {repo.path}; checkpoint SHA-256"
        f" {served.checkpoint_sha256 or 'none'}"
    )
    if repo.parity is not None:
        worst = ", ".join(f"{step} {diff:.1e}" for step, diff in repo.parity.items())
        print(f"ONNX vs PyTorch, max |difference| / (1 + |PyTorch|): {worst}")
    return 0


def run_triton(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    import signal
    import tempfile
    import time
    from pathlib import Path

    from samem.serving.server import TritonError, TritonServer

    with tempfile.TemporaryDirectory(prefix="samem-repository-") as scratch:
        repository = args.repository
        if repository is None:
            from samem.serving.repository import write_repository

            repository = str(Path(scratch) / "repository")
            write_repository(repository, args.model, image_size=args.image_size)
        server = TritonServer(
            repository,
            host=args.host,
            grpc_port=args.grpc_port,
            http_port=args.http_port,
            metrics_port=args.metrics_port,
            log_path=args.log,
            threads=args.threads,
        )

        def terminate(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, terminate)
        try:
            server.start()
            print(
                f"Triton ready: gRPC {server.grpc_url}, HTTP {args.host}:{server.http_port}, metrics"
                f" {args.host}:{server.metrics_port}; track with --backend triton://{server.grpc_url}",
                flush=True,
            )
            while server.running:
                time.sleep(0.5)
            raise TritonError(f"tritonserver exited unexpectedly:\n{server.log_tail()}")
        except KeyboardInterrupt:
            print("stopping Triton", flush=True)
        finally:
            server.stop()
            signal.signal(signal.SIGTERM, previous)
    return 0
