"""``samem up`` / ``samem down`` as a user runs them: real processes on free ports in a temporary state directory."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import redis
from service_support import IMAGE_SIZE, redis_server, write_present_checkpoint, write_video

from samem.client import Client
from samem.service.api import tracking_pb2 as pb
from samem.service.processes import ProcessId, alive
from samem.service.stack import default_dashboard_app
from samem.serving.server import free_port

pytestmark = pytest.mark.slow  # three stacks come up: about 60 s

N_FRAMES = 12


def samem(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run the ``samem`` command line in a fresh process (as a user would)."""
    return subprocess.run(
        [sys.executable, "-m", "samem", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def up_args(state_dir: Path, redis_url: str, checkpoint: Path, *extra: str) -> list[str]:
    return ["up", "--state-dir", str(state_dir), "--redis-url", redis_url, "--port", "0", "--dashboard-port", "0",
            "--model", f"samem-compact:{checkpoint}", "--image-size", str(IMAGE_SIZE), "--timeout", "150",
            *extra]  # fmt: skip


def pids(state_dir: Path) -> list[ProcessId]:
    state = json.loads((state_dir / "stack.json").read_text())
    found = []
    for part in state["parts"]:
        if part["started"]:
            found.append(ProcessId(part["pid"], part["start_ticks"]))
        found.extend(ProcessId(pid, ticks) for pid, ticks in part["extra"])
    return found


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_present_checkpoint(tmp_path_factory.mktemp("weights") / "present.pt")


def test_up_starts_everything_tracks_a_video_refuses_a_second_up_and_down_stops_every_process(
    tmp_path: Path, checkpoint: Path
) -> None:
    state_dir = tmp_path / "stack"
    redis_url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens: the stack starts its own Redis
    started = samem(*up_args(state_dir, redis_url, checkpoint))
    assert started.returncode == 0, started.stderr
    try:
        state = json.loads((state_dir / "stack.json").read_text())
        names = [p["name"] for p in state["parts"]]
        assert names[:3] == ["redis", "service", "worker"]
        assert f"SAMEM_ADDRESS={state['address']} SAMEM_TOKEN={state['token']}" in started.stdout
        assert (state_dir / "tokens.json").stat().st_mode & 0o077 == 0  # the tokens are the user's alone
        if default_dashboard_app().is_file():
            assert names[3] == "dashboard"
            with urllib.request.urlopen(state["dashboard_url"] + "/_stcore/health", timeout=5) as reply:
                assert reply.status == 200
        else:
            assert "no dashboard" in started.stdout
        assert all(alive(p) for p in pids(state_dir))

        video, prompts = write_video(tmp_path / "clip.tif", n_frames=N_FRAMES)
        with Client(state["address"], token=state["token"]) as client:
            video_id = client.upload_video(video, px_nm=0.5, fps=20).video_id
            client.set_prompts(video_id, prompts)
            job = client.wait(client.start_propagation(video_id).job_id, timeout_s=120)
            assert job.state == pb.SUCCEEDED, job.error
            table = client.trajectories(job.job_id)
        assert table["present"].all() and sorted(table["particle"].unique()) == [1, 2]
        for _, rows in table.groupby("particle"):
            assert rows["frame"].tolist() == list(range(N_FRAMES))

        again = samem(*up_args(state_dir, redis_url, checkpoint, "--no-dashboard"))
        assert again.returncode == 2
        assert "already running" in again.stderr and "samem down" in again.stderr
        assert all(alive(p) for p in pids(state_dir))  # the refused start touched nothing
    finally:
        processes = pids(state_dir)
        stopped = samem("down", "--state-dir", str(state_dir))
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped" in stopped.stdout and "redis" in stopped.stdout
    assert not any(alive(p) for p in processes)
    assert not (state_dir / "stack.json").exists()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(redis_url, socket_connect_timeout=1).ping()
    repeat = samem("down", "--state-dir", str(state_dir))
    assert repeat.returncode == 0 and "nothing running" in repeat.stdout


def test_a_redis_that_was_already_running_is_used_and_left_alone(tmp_path: Path, checkpoint: Path) -> None:
    state_dir = tmp_path / "stack"
    with redis_server() as redis_url:
        started = samem(*up_args(state_dir, redis_url, checkpoint, "--no-dashboard"))
        assert started.returncode == 0, started.stderr
        assert "already running, left alone" in started.stdout
        processes = pids(state_dir)
        assert len(processes) == 2  # the service and the worker
        stopped = samem("down", "--state-dir", str(state_dir))
        assert stopped.returncode == 0 and "redis" not in stopped.stdout
        assert not any(alive(p) for p in processes)
        assert redis.Redis.from_url(redis_url).ping()


def test_a_part_that_fails_is_named_with_its_log_and_nothing_is_left_running(tmp_path: Path) -> None:
    state_dir = tmp_path / "stack"
    redis_url = f"redis://127.0.0.1:{free_port()}/0"
    failed = samem("up", "--state-dir", str(state_dir), "--redis-url", redis_url, "--port", "0", "--no-dashboard",
                   "--model", f"samem-compact:{tmp_path / 'missing.pt'}", "--timeout", "60")  # fmt: skip
    assert failed.returncode == 2
    assert "worker failed to start" in failed.stderr and str(state_dir / "logs" / "worker.log") in failed.stderr
    assert not (state_dir / "stack.json").exists()
    with pytest.raises(redis.ConnectionError):  # the Redis and the service it had started are stopped again
        redis.Redis.from_url(redis_url, socket_connect_timeout=1).ping()
    assert "service ready" in (state_dir / "logs" / "service.log").read_text()
