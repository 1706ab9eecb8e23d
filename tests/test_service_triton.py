"""The service with a worker whose engine runs on a real Triton server (one test: Triton is slow to start)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tritonclient.grpc as grpcclient
from service_support import TOKENS, Worker, redis_server, write_present_checkpoint, write_video
from serving_support import torch_threads

from samem.client import Client
from samem.model.build import file_sha256
from samem.service.api import tracking_pb2 as pb
from samem.service.config import ServiceConfig
from samem.service.server import create_server
from samem.serving.repository import write_repository
from samem.serving.server import TritonServer
from samem.serving.spec import model_name
from samem.tracking import track

pytestmark = pytest.mark.slow  # a tritonserver, a Redis server and a worker: about 30 s

N_FRAMES = 16


def test_propagation_through_triton_gives_the_trajectories_of_in_process_tracking(tmp_path: Path) -> None:
    checkpoint = write_present_checkpoint(tmp_path / "present.pt")
    video, prompts = write_video(tmp_path / "clip.tif", n_frames=N_FRAMES)
    model = f"samem-compact:{checkpoint}"
    write_repository(tmp_path / "repository", model)
    with torch_threads(1):
        expected = track(video, prompts, model=model, overlay=None).trajectories
    with TritonServer(tmp_path / "repository", threads=1) as triton, redis_server() as url:
        config = ServiceConfig(
            redis_url=url, storage=tmp_path / "storage", tokens=TOKENS, backend=f"triton://{triton.grpc_url}",
            checkpoint_every=4,
        )  # fmt: skip
        server, port, _ = create_server(config)
        worker = Worker(config, tmp_path / "worker.log").wait_ready()
        try:
            with Client(f"127.0.0.1:{port}", token="alice-token") as client:
                video_id = client.upload_video(video).video_id
                client.set_prompts(video_id, prompts)
                job = client.wait(client.start_propagation(video_id).job_id, timeout_s=120)
                assert job.state == pb.SUCCEEDED, job.error
                table = client.trajectories(job.job_id)
                ran = client._unary(client.results.GetTrajectories, pb.GetTrajectoriesRequest(job_id=job.job_id))
                # the default model runs on what Triton serves, and the job records what that was
                assert job.model == ran.model == "samem-compact"
                assert (ran.model_spec, ran.model_checkpoint_sha256) == (model, file_sha256(checkpoint))
            triton_client = grpcclient.InferenceServerClient(triton.grpc_url)
            encoded = sum(
                int(triton_client.get_inference_statistics(model_name(step), as_json=True)["model_stats"][0]
                    .get("inference_count", 0))
                for step in ("encode_frame", "track_image")  # prompted frames, and tracked frames (fused)
            )  # fmt: skip
            assert encoded >= N_FRAMES  # the worker's frames went to Triton
        finally:
            worker.stop()
            server.stop(0)
    assert list(table.columns) == list(expected.columns)
    assert table["present"].all() and len(table) == 2 * N_FRAMES
    pd.testing.assert_frame_equal(table[["frame", "particle", "present"]], expected[["frame", "particle", "present"]])
    numeric = ["x", "y", "area_px", "major_axis_px", "minor_axis_px"]
    assert np.allclose(table[numeric].to_numpy(), expected[numeric].to_numpy(), atol=1e-6, equal_nan=True)
