"""A real Triton server stopped in the middle of a job and started again: the worker waits with backoff and the job
finishes from its checkpoint with the trajectories of an uninterrupted run."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from service_support import TOKENS, Worker, redis_server, write_present_checkpoint, write_video
from serving_support import torch_threads

from samem.client import Client
from samem.service.api import tracking_pb2 as pb
from samem.service.config import ServiceConfig
from samem.service.server import create_server
from samem.serving.repository import write_repository
from samem.serving.server import TritonServer
from samem.tracking import track

pytestmark = pytest.mark.slow  # Triton starts twice: about 60 s

N_FRAMES = 24


def test_a_job_waits_for_a_restarted_triton_and_resumes_with_identical_trajectories(tmp_path: Path) -> None:
    checkpoint = write_present_checkpoint(tmp_path / "present.pt")
    video, prompts = write_video(tmp_path / "clip.tif", n_frames=N_FRAMES)
    model = f"samem-compact:{checkpoint}"
    repository = write_repository(tmp_path / "repository", model).path
    with torch_threads(1):
        expected = track(video, prompts, model=model, overlay=None).trajectories
    triton = TritonServer(repository, threads=1).start()
    ports = {"grpc_port": triton.grpc_port, "http_port": triton.http_port, "metrics_port": triton.metrics_port}
    with redis_server() as url:  # 12 retries wait about 80 s: a restart took over 48 s on a busy 2-core machine
        config = ServiceConfig(
            redis_url=url, storage=tmp_path / "storage", tokens=TOKENS, backend=f"triton://{triton.grpc_url}",
            checkpoint_every=4, backend_retries=12, backend_retry_s=1.0, backend_retry_max_s=8.0, lease_s=3.0,
        )  # fmt: skip
        server, port, _ = create_server(config)
        worker = Worker(config, tmp_path / "worker.log").wait_ready()
        try:
            with Client(f"127.0.0.1:{port}", token="alice-token") as client:
                video_id = client.upload_video(video).video_id
                client.set_prompts(video_id, prompts)
                job = client.start_propagation(video_id)
                deadline = time.monotonic() + 60
                while client.get_job(job.job_id).frames_done < 6:
                    assert time.monotonic() < deadline, worker.log()
                    time.sleep(0.01)
                triton.stop()
                stopped = client.get_job(job.job_id)
                assert stopped.state == pb.RUNNING and stopped.frames_done < N_FRAMES, "the job ended too soon"
                deadline = time.monotonic() + 30
                while "retrying in" not in client.get_job(job.job_id).error:
                    assert time.monotonic() < deadline, worker.log()
                    time.sleep(0.05)
                triton = TritonServer(repository, threads=1, **ports).start()  # same ports: same address
                final = client.wait(job.job_id, timeout_s=120)
                assert final.state == pb.SUCCEEDED, final.error
                assert final.error == "" and final.frames_done == N_FRAMES
                table = client.trajectories(job.job_id)
        finally:
            worker.stop()
            server.stop(0)
            triton.stop()
    log = worker.log_path.read_text()
    assert "the backend is unreachable" in log and "resumes at frame" in log
    pd.testing.assert_frame_equal(table[["frame", "particle", "present"]], expected[["frame", "particle", "present"]])
    numeric = ["x", "y", "area_px", "major_axis_px", "minor_axis_px"]
    assert np.allclose(table[numeric].to_numpy(), expected[numeric].to_numpy(), atol=1e-6, equal_nan=True)
