"""The engine through a real Triton Inference Server (nvidia-pytriton's tritonserver and python backend)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import torch
import tritonclient.grpc as grpcclient
from engine_support import BOXES, N_FRAMES, synthetic_frames
from serving_support import IMAGE_SIZE, model_images, torch_threads, track_all, write_checkpoint
from tritonclient.utils import InferenceServerException

from samem.cli import main
from samem.engine import LocalBackend, MemoryInputs
from samem.model import build_model
from samem.model.build import IMAGE_SIZE_KEY, MASK_PROPAGATION_KEY, file_sha256
from samem.serving.repository import MANIFEST, write_repository
from samem.serving.server import TritonError, TritonServer, free_port
from samem.serving.spec import MODEL_KEY, STEPS, ServedModel, model_name
from samem.serving.triton_backend import TritonBackend, request_input

pytestmark = pytest.mark.slow  # starts three real tritonserver processes: about 40 s

THREADS = 1  # the server's models and the in-process reference use the same thread count
STARTUP_S = 180.0
#: tensor bytes of a video with the fused step / without it (0.70 measured: 3 objects at 128 px, 12 frames)
TRAFFIC_RATIO = 0.75
TRACKING_STEPS = ("track_image", "track_frame")  # fused, and tracking from features


def _statistic(client: grpcclient.InferenceServerClient, step: str, key: str) -> int:
    """One of Triton's inference statistics of a step model (``execution_count``, ``inference_count``)."""
    stats = client.get_inference_statistics(model_name(step), as_json=True)["model_stats"][0]
    return int(stats.get(key, 0))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = write_checkpoint(tmp_path_factory.mktemp("weights") / "compact.pt")
    payload = torch.load(path, weights_only=True)
    # runs at this size by default, here and in Triton; with mask propagation (samem's own weights), so that the
    # tracking step carries previous masks through Triton too
    torch.save({**payload, IMAGE_SIZE_KEY: IMAGE_SIZE, MASK_PROPAGATION_KEY: True}, path)
    return path


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory, checkpoint: Path) -> Path:
    out = tmp_path_factory.mktemp("triton") / "repository"
    write_repository(out, f"samem-compact:{checkpoint}")
    return out


@pytest.fixture(scope="module")
def triton(repository: Path) -> TritonServer:
    server = TritonServer(repository, threads=THREADS)
    server.start(timeout=STARTUP_S)
    yield server
    server.stop()
    assert not server.running


@pytest.fixture(scope="module")
def local(checkpoint: Path) -> tuple[np.ndarray, np.ndarray]:
    with torch_threads(THREADS):
        return track_all(LocalBackend(build_model(f"samem-compact:{checkpoint}").model))


@pytest.mark.parametrize("shared_memory", [False, True], ids=["grpc", "shared-memory"])
def test_masks_through_triton_equal_in_process_masks(
    triton: TritonServer, local: tuple[np.ndarray, np.ndarray], shared_memory: bool
) -> None:
    with TritonBackend(triton.grpc_url, shared_memory=shared_memory) as backend:
        assert backend.settings.image_size == IMAGE_SIZE and backend.settings.mask_propagation
        logits, scores = track_all(backend)
        traffic = backend.traffic
    ref_logits, ref_scores = local
    # present and absent objects both occur, on prompted and tracked frames
    assert (ref_scores > 0).any() and (ref_scores <= 0).any()
    assert np.array_equal(logits > 0, ref_logits > 0)
    assert float(np.abs(logits - ref_logits).max()) <= 1e-6
    assert float(np.abs(scores - ref_scores).max()) <= 1e-6
    assert traffic.requests > len(ref_scores) and traffic.sent > 0 and traffic.received > 0
    assert traffic.wire == (0 if shared_memory else traffic.sent + traffic.received)


def test_tracked_frames_go_through_the_fused_step_and_match_without_it(triton: TritonServer, checkpoint: Path) -> None:
    """The fused step keeps features on the server; a repository without it (ONNX) gets encode + track instead."""
    with torch_threads(THREADS):
        local = track_all(LocalBackend(build_model(f"samem-compact:{checkpoint}").model), one_layout=True)
    client = grpcclient.InferenceServerClient(triton.grpc_url)
    before = {step: _statistic(client, step, "execution_count") for step in TRACKING_STEPS}
    traffic = {}
    for fused in (True, False):
        with TritonBackend(triton.grpc_url, fused=fused) as backend:
            assert backend.fused == fused
            logits, scores = track_all(backend, one_layout=True)
            traffic[fused] = backend.traffic.sent + backend.traffic.received
        np.testing.assert_allclose(logits, local[0], rtol=0, atol=1e-6)
        np.testing.assert_allclose(scores, local[1], rtol=0, atol=1e-6)
        if fused:
            used = {step: _statistic(client, step, "execution_count") - before[step] for step in before}
            assert used == {"track_image": N_FRAMES - 1, "track_frame": 0}
    assert traffic[True] < TRAFFIC_RATIO * traffic[False]
    client.close()


def test_a_tracked_frame_travels_as_one_grey_channel_and_bfloat16_memories(
    triton: TritonServer, checkpoint: Path
) -> None:
    """The fused step's bytes are exactly the grey image, the bf16 memories and the small tensors; same results."""
    generator = torch.Generator().manual_seed(5)
    image = model_images()[3][None]
    with TritonBackend(triton.grpc_url) as backend:
        st = backend.settings
        objects, memories, pointers, h, low = 2, 3, 4, st.feature_size, st.low_res_size
        memory = MemoryInputs(
            maskmem=torch.randn(objects, memories, st.mem_dim, h, h, generator=generator).to(torch.bfloat16),
            maskmem_tpos=(0, 6, 5),
            obj_ptrs=torch.randn(objects, pointers, st.hidden_dim, generator=generator),
            ptr_offsets=(0, 1, 2, 3),
            max_ptr_offset=15,
        )
        previous = (torch.rand(objects, 1, low, low, generator=generator) > 0.5).float() * 20 - 10
        remote = backend.track_image(image, memory, previous)
        traffic = backend.traffic
    with torch_threads(THREADS):
        local = LocalBackend(build_model(f"samem-compact:{checkpoint}").model).track_image(image, memory, previous)
    float32, bf16, int32 = 4, 2, 4
    assert traffic.requests == 1
    assert traffic.sent == (
        IMAGE_SIZE * IMAGE_SIZE * float32  # one grey channel (SAM 2's three are made on the server)
        + objects * memories * st.mem_dim * h * h * bf16  # the memories as the engine's state keeps them
        + memories * int32
        + objects * pointers * st.hidden_dim * float32
        + pointers * int32
        + int32
        + objects * low * low * float32
    )
    assert traffic.received == objects * (low * low + 1 + st.hidden_dim + 1) * float32 + (
        objects * st.mem_dim * h * h * bf16
    )
    assert remote.memory is not None and remote.memory.dtype == torch.bfloat16
    assert torch.equal(remote.memory, local.memory.to(torch.bfloat16))  # what the state would keep, bit for bit
    assert float((remote.low_res_logits - local.low_res_logits).abs().max()) <= 1e-6


def test_window_mode_through_triton_equals_in_process_window_mode(triton: TritonServer, checkpoint: Path) -> None:
    """Windows (one encoded image per object, more than one request's batch) give the in-process results.

    With the python variant's fused step a frame's windows go in one request; where the fused graph takes one
    image (ONNX), frames of several windows go as encode + track instead.
    """
    with torch_threads(THREADS):
        ref_logits, ref_scores = track_all(LocalBackend(build_model(f"samem-compact:{checkpoint}").model), zoom=2.0)
    client = grpcclient.InferenceServerClient(triton.grpc_url)

    def executions() -> np.ndarray:
        return np.asarray([_statistic(client, step, "execution_count") for step in TRACKING_STEPS])

    used = {}
    for fused_images in (-1, 1):
        before = executions()
        with TritonBackend(triton.grpc_url) as backend:
            assert backend._fused_images == -1  # the python variant's fused step takes any number of windows
            backend._encode_batch = 3  # below the 4 windows of a frame: the encoding is split into two requests
            backend._fused_images = fused_images
            logits, scores = track_all(backend, zoom=2.0)
        used[fused_images] = executions() - before
        assert (ref_scores > 0).any()
        assert np.array_equal(logits > 0, ref_logits > 0)
        assert float(np.abs(logits - ref_logits).max()) <= 1e-5
        # per-window requests vs one batch: float32 rounding of the test weights' scores (~300, gain 5000) only
        np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-5)
    (image_all, frame_all), (image_one, frame_one) = used[-1], used[1]
    assert image_all > image_one and frame_one > frame_all  # frames of several windows: fused, or encode + track
    client.close()


def test_every_step_model_names_the_checkpoint_and_its_hash(
    triton: TritonServer, repository: Path, checkpoint: Path
) -> None:
    client = grpcclient.InferenceServerClient(triton.grpc_url)
    sha = file_sha256(checkpoint)
    for step in STEPS:
        assert client.is_model_ready(model_name(step), "1")
        config = client.get_model_config(model_name(step), as_json=True)["config"]
        served = ServedModel.from_json(config["parameters"][MODEL_KEY]["string_value"])
        assert served.spec == f"samem-compact:{checkpoint.resolve()}" and served.checkpoint_sha256 == sha
        assert served.settings.image_size == IMAGE_SIZE
    manifest = json.loads((repository / MANIFEST).read_text())
    assert manifest["checkpoint_sha256"] == sha and manifest["version"] == 1 and manifest["variant"] == "python"
    client.close()


def test_frame_encoding_is_batched_across_concurrent_videos(triton: TritonServer, checkpoint: Path) -> None:
    """Frames of concurrent videos share executions; malformed requests among them fail alone."""
    images = model_images()[:8]
    with torch_threads(THREADS):
        reference = LocalBackend(build_model(f"samem-compact:{checkpoint}").model)
        expected = [reference.encode_frame(image[None]).image_embed for image in images]
    client = grpcclient.InferenceServerClient(triton.grpc_url)

    def counts() -> tuple[int, ...]:
        return tuple(_statistic(client, "encode_frame", key) for key in ("inference_count", "execution_count"))

    before = counts()
    results: dict[int, torch.Tensor] = {}
    backends = [TritonBackend(triton.grpc_url) for _ in images]
    grey = images[0][None].numpy()
    bad_requests = {
        "three channels": request_input("image", np.repeat(grey, 3, axis=1), "TYPE_FP32"),
        "bfloat16 image": request_input("image", np.zeros(grey.shape, np.int16), "TYPE_BF16"),
    }
    refused: dict[str, str] = {}
    barrier = threading.Barrier(len(images) + len(bad_requests))

    def encode(index: int) -> None:
        barrier.wait()
        results[index] = backends[index].encode_frame(images[index][None]).image_embed

    def send_bad(name: str) -> None:
        barrier.wait()
        with pytest.raises(InferenceServerException) as error:
            client.infer(model_name("encode_frame"), [bad_requests[name]])
        refused[name] = str(error.value)

    threads = [threading.Thread(target=encode, args=(i,)) for i in range(len(images))]
    threads += [threading.Thread(target=send_bad, args=(name,)) for name in bad_requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = counts()
    for backend in backends:
        backend.close()
    client.close()
    inferences, executions = after[0] - before[0], after[1] - before[1]
    assert inferences == len(images)  # the malformed requests never reached the model
    assert executions < inferences  # several videos' frames went through one model execution
    assert "expected" in refused["three channels"] and "BF16" in refused["bfloat16 image"]
    for index, embed in enumerate(expected):
        assert torch.allclose(results[index], embed, atol=1e-5)


def test_a_bad_request_gets_a_clear_error_and_the_server_keeps_serving(triton: TritonServer) -> None:
    backend = TritonBackend(triton.grpc_url)
    features = backend.encode_frame(model_images()[0][None])
    client = grpcclient.InferenceServerClient(triton.grpc_url)
    st = backend.settings
    arrays = {
        "image_embed": features.image_embed.numpy(),
        "high_res_0": features.high_res_0.numpy(),
        "high_res_1": features.high_res_1.numpy(),
        "maskmem": np.zeros((1, 2, st.mem_dim, st.feature_size, st.feature_size), np.int16),  # bfloat16 bits
        "maskmem_tpos": np.asarray([0, 6, 5], np.int32),  # three positions for two memories
        "obj_ptrs": np.zeros((1, 1, st.hidden_dim), np.float32),
        "ptr_offsets": np.asarray([1], np.int32),
        "max_ptr_offset": np.asarray([15], np.int32),
        "previous_masks": np.zeros((1, 1, st.low_res_size, st.low_res_size), np.float32),
    }

    def infer(arrays: dict[str, np.ndarray]) -> None:
        types = {np.dtype(np.float32): "TYPE_FP32", np.dtype(np.int32): "TYPE_INT32", np.dtype(np.int16): "TYPE_BF16"}
        client.infer(model_name("track_frame"), [request_input(n, a, types[a.dtype]) for n, a in arrays.items()])

    with pytest.raises(InferenceServerException, match="does not hold the 3 memories of maskmem_tpos"):
        infer(arrays)
    with pytest.raises(InferenceServerException, match=r"maskmem.*BF16"):  # float32 memories: the wrong data type
        infer(arrays | {"maskmem": arrays["maskmem"].astype(np.float32)})
    arrays["maskmem_tpos"] = np.asarray([0, 6], np.int32)
    arrays["previous_masks"] = np.zeros((2, 1, st.low_res_size, st.low_res_size), np.float32)  # two for one object
    with pytest.raises(InferenceServerException, match=r"previous_masks .* should be"):
        infer(arrays)
    assert client.is_server_ready()
    assert backend.encode_frame(model_images()[1][None]).image_embed.shape[0] == 1
    backend.close()
    client.close()


def _write_video(folder: Path) -> Path:
    path = folder / "video.tif"
    tifffile.imwrite(path, synthetic_frames())
    return path


def _track_args(video: Path, out: Path) -> list[str]:
    boxes = [f"--box={','.join(str(v) for v in box)}" for frame, box in BOXES.values() if frame == 0]
    return ["track", str(video), *boxes, "--out", str(out), "--overlay", "none", "--no-progress"]


def test_samem_track_with_a_triton_backend_writes_what_the_local_backend_writes(
    triton: TritonServer, checkpoint: Path, tmp_path: Path
) -> None:
    video = _write_video(tmp_path)
    with torch_threads(THREADS):
        assert main([*_track_args(video, tmp_path / "local"), "--model", f"samem-compact:{checkpoint}"]) == 0
    url = f"triton://{triton.grpc_url}?shared_memory=1"
    assert main([*_track_args(video, tmp_path / "remote"), "--backend", url]) == 0
    local = pd.read_csv(tmp_path / "local" / "trajectories.csv")
    remote = pd.read_csv(tmp_path / "remote" / "trajectories.csv")
    pd.testing.assert_frame_equal(local, remote)
    run = json.loads((tmp_path / "remote" / "run.json").read_text())
    assert run["backend"] == url and run["checkpoint_sha256"] == file_sha256(checkpoint) and run["precision"] == "fp32"
    assert (
        tifffile.imread(tmp_path / "local" / "masks.tif").tolist()
        == tifffile.imread(tmp_path / "remote" / "masks.tif").tolist()
    )


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        ("triton://127.0.0.1:{port}", "cannot reach Triton at 127.0.0.1:{port}"),
        ("triton://127.0.0.1", "is not of the form triton://HOST:PORT"),
        ("triton://127.0.0.1:{port}?shm=1", "unknown option"),
        ("grpc://127.0.0.1:{port}", "neither 'local' nor triton://HOST:PORT"),
    ],
)
def test_samem_track_reports_a_bad_backend_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], backend: str, message: str
) -> None:
    port = free_port()
    video = _write_video(tmp_path)
    assert main([*_track_args(video, tmp_path / "out"), "--backend", backend.format(port=port)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message.format(port=port) in err
    assert not (tmp_path / "out").exists()


def test_samem_triton_serves_until_sigterm_and_stops_cleanly(repository: Path, tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "samem", "triton", "--repository", str(repository), "--threads", "1"]
    command += ["--grpc-port", str(port), "--http-port", "0", "--metrics-port", "0", "--log", str(tmp_path / "log")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("Triton ready: gRPC 127.0.0.1:") and f"triton://127.0.0.1:{port}" in line, (
            line + process.stderr.read()
        )
        with TritonBackend(f"127.0.0.1:{port}") as backend:
            assert backend.settings.image_size == IMAGE_SIZE
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _answers(port):
        time.sleep(0.2)
    assert not _answers(port)


def _answers(port: int) -> bool:
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{port}")
    try:
        return bool(client.is_server_live(client_timeout=1))
    except Exception:
        return False
    finally:
        client.close()


def test_the_server_refuses_a_checkpoint_changed_after_export(checkpoint: Path, tmp_path: Path) -> None:
    weights = tmp_path / "weights.pt"
    shutil.copy(checkpoint, weights)
    write_repository(tmp_path / "repository", f"samem-compact:{weights}")
    payload = torch.load(weights, weights_only=True)
    payload["model"]["no_mem_embed"] = payload["model"]["no_mem_embed"] + 1
    torch.save(payload, weights)
    server = TritonServer(tmp_path / "repository", threads=THREADS)
    with pytest.raises(TritonError, match="re-run `samem export`"):
        server.start(timeout=STARTUP_S)
    assert not server.running


def test_a_client_waits_a_bounded_time_for_models_still_loading(repository: Path, tmp_path: Path) -> None:
    """A step model that is not ready: the backend waits up to its bound, names the model, or goes on once loaded."""
    partial = tmp_path / "repository"
    shutil.copytree(repository, partial)
    late = model_name("track_frame")
    shutil.move(partial / late, tmp_path / late)
    with TritonServer(partial, threads=THREADS, poll_seconds=1) as server:
        started = time.monotonic()
        with pytest.raises(TritonError, match=rf"Triton at {server.grpc_url}: {late} not ready after 1 s"):
            TritonBackend(server.grpc_url, ready_timeout=1.0)
        assert 1.0 <= time.monotonic() - started < 5.0
        connected: list[TritonBackend] = []
        waiting = threading.Thread(target=lambda: connected.append(TritonBackend(server.grpc_url, ready_timeout=120)))
        waiting.start()
        time.sleep(2.0)
        assert not connected and waiting.is_alive()  # still waiting for the missing model
        shutil.move(tmp_path / late, partial / late)  # the server's next poll loads it
        waiting.join(150)
        assert connected, "the backend did not connect once the model was loaded"
        with connected[0] as backend:
            assert backend.encode_frame(model_images()[0][None]).image_embed.shape[0] == 1
