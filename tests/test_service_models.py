"""Per-job model choice: the catalogue, the workers' model cache, ListModels and jobs that name their model.

The service tests run a real Redis server, the real gRPC server and a real Celery worker process; the catalogue
offers the shipped samem-compact (default) and random compact weights written here in SAM 2 format.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from service_support import TOKENS, Worker, redis_server, write_present_checkpoint, write_video
from serving_support import torch_threads

from samem.client import Client, ClientError
from samem.errors import InputError
from samem.model.build import file_sha256
from samem.model.registry import shipped_checkpoint
from samem.service.api import tracking_pb2 as pb
from samem.service.catalogue import Catalogue, CatalogueEntry
from samem.service.config import ServiceConfig
from samem.service.engine import ModelCache, check_served
from samem.service.errors import ModelUnavailable
from samem.service.server import create_server
from samem.tracking import track

N_FRAMES = 12

# ----- the catalogue and the cache (pure logic) -----


def test_the_catalogue_names_entries_keeps_their_order_and_puts_the_default_first(tmp_path: Path) -> None:
    ckpt = tmp_path / "a.pt"
    catalogue = Catalogue.parse(f"samem-compact, random=samem-compact:random, mine=sam2.1_hiera_t:{ckpt}",
                                default="mine")  # fmt: skip
    assert catalogue.names() == ["mine", "samem-compact", "random"]
    assert catalogue.default.spec == f"sam2.1_hiera_t:{ckpt}" and catalogue.default.config == "sam2.1_hiera_t"
    assert catalogue.entry("").name == "mine" and catalogue.entry("random").checkpoint is None
    assert catalogue.entry("samem-compact").checkpoint == shipped_checkpoint("samem-compact")
    assert "shipped" in catalogue.entry("samem-compact").description()
    assert "not readable by the service" in catalogue.entry("mine").description()
    with pytest.raises(InputError, match=r"unknown model 'big': this service offers mine \(default\), samem-compact"):
        catalogue.entry("big")


def test_without_a_catalogue_the_one_configured_model_is_offered_under_its_config_name(tmp_path: Path) -> None:
    assert Catalogue.from_config(ServiceConfig()).names() == ["samem-compact"]
    config = ServiceConfig(model=f"samem-compact:{tmp_path / 'w.pt'}")
    (entry,) = Catalogue.from_config(config)
    assert (entry.name, entry.spec) == ("samem-compact", f"samem-compact:{tmp_path / 'w.pt'}")
    env = ServiceConfig.from_env({"SAMEM_MODELS": "a=samem-compact,b=samem-compact:random",
                                  "SAMEM_DEFAULT_MODEL": "b", "SAMEM_MODEL_CACHE_SIZE": "3"})  # fmt: skip
    assert Catalogue.from_config(env).default.name == "b" and env.model_cache_size == 3


@pytest.mark.parametrize(
    ("text", "default", "message"),
    [
        ("a=samem-compact,a=samem-compact:random", "", r"names \['a'\] more than once"),
        ("samem-compact,samem-compact:random", "", r"names \['samem-compact'\] more than once"),
        ("a b=samem-compact", "", r"entry 'a b'='samem-compact': names are 1-64 letters"),
        ("a=hiera_xl:/w.pt", "", r"unknown model 'hiera_xl'; known models: samem-compact"),
        ("a=", "", r"entry 'a' has no spec"),
        ("a=samem-compact", "b", r"default model 'b' is not in the catalogue \(a\)"),
        (" , ", "", "the model catalogue is empty"),
    ],
)
def test_a_bad_catalogue_is_refused_with_the_entry_and_the_fix(text: str, default: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Catalogue.parse(text, default=default)


def test_the_model_cache_keeps_the_most_recently_used_models_and_builds_each_once_while_kept() -> None:
    built: list[str] = []

    def build(entry: CatalogueEntry) -> object:
        built.append(entry.name)
        return object()

    a, b, c = (CatalogueEntry(name=n, spec=f"samem-compact:/{n}.pt") for n in "abc")
    cache = ModelCache(build, size=2)  # type: ignore[arg-type]
    first = cache.get(a)
    assert cache.get(b) is not first and cache.get(a) is first  # a is now the most recent
    cache.get(c)  # evicts b, the least recently used
    assert cache.loaded == [a.spec, c.spec] and built == ["a", "b", "c"]
    cache.get(b)  # built again, evicting a
    assert built == ["a", "b", "c", "b"] and cache.loaded == [c.spec, b.spec]
    with pytest.raises(ValueError, match="at least 1 model"):
        ModelCache(build, size=0)  # type: ignore[arg-type]


def test_a_model_that_triton_does_not_serve_fails_with_a_precondition_naming_both(tmp_path: Path) -> None:
    checkpoint = write_present_checkpoint(tmp_path / "present.pt")
    entry = CatalogueEntry(name="present", spec=f"samem-compact:{checkpoint}")
    served_sha = file_sha256(checkpoint)
    check_served(entry, f"samem-compact:{checkpoint}", served_sha, url="triton://t:8001")  # the same model: runs
    shipped = f"samem-compact:{shipped_checkpoint('samem-compact')}"
    with pytest.raises(ModelUnavailable, match=r"model 'present' .* Triton at triton://t:8001 serves one model, "):
        check_served(entry, shipped, file_sha256(shipped_checkpoint("samem-compact")), url="triton://t:8001")
    with pytest.raises(ModelUnavailable, match=r"serves one model, sam2\.1_hiera_t"):
        check_served(entry, f"sam2.1_hiera_t:{checkpoint}", served_sha, url="triton://t:8001")


# ----- the service -----


class Stack:
    """Redis, the gRPC server and one worker, with a two-model catalogue."""

    def __init__(self, config: ServiceConfig, address: str, checkpoint: Path) -> None:
        self.config, self.address, self.checkpoint = config, address, checkpoint

    def client(self, token: str = "alice-token") -> Client:
        return Client(self.address, token=token, timeout_s=20)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    return write_video(tmp_path_factory.mktemp("video") / "clip.tif", n_frames=N_FRAMES)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("models")
    checkpoint = write_present_checkpoint(root / "present.pt")
    with redis_server() as url:
        config = ServiceConfig(
            redis_url=url, storage=root / "storage", tokens=TOKENS, models=f"samem-compact,present=samem-compact:"
            f"{checkpoint}", model_cache_size=2, checkpoint_every=5, lease_s=5.0,
        )  # fmt: skip
        server, port, _ = create_server(config)
        worker = Worker(config, root / "worker.log")
        try:
            worker.wait_ready()
            yield Stack(config, f"127.0.0.1:{port}", checkpoint)
        finally:
            worker.stop()
            server.stop(0)


@pytest.mark.slow
def test_list_models_names_each_offered_model_with_its_checkpoint_hash_and_the_default(stack: Stack) -> None:
    with stack.client() as client:
        models = client.list_models()
    assert [(m.name, m.is_default) for m in models] == [("samem-compact", True), ("present", False)]
    shipped, present = models
    assert shipped.spec == shipped.config == "samem-compact"
    assert shipped.checkpoint_sha256 == file_sha256(shipped_checkpoint("samem-compact"))
    assert present.spec == f"samem-compact:{stack.checkpoint}" and present.config == "samem-compact"
    assert present.checkpoint_sha256 == file_sha256(stack.checkpoint)
    assert present.description == "samem-compact, checkpoint present.pt"


@pytest.mark.slow
def test_two_jobs_on_one_video_with_two_offered_models_run_each_model_and_say_which(
    stack: Stack, video: tuple[Path, list], tmp_path: Path
) -> None:
    with stack.client() as client:
        video_id = client.upload_video(video[0]).video_id
        client.set_prompts(video_id, video[1])
        default_job = client.start_propagation(video_id)
        present_job = client.start_propagation(video_id, model="present")
        assert (default_job.model, present_job.model) == ("samem-compact", "present")
        finals = [client.wait(j.job_id, timeout_s=180) for j in (default_job, present_job)]
        assert all(j.state == pb.SUCCEEDED for j in finals), [j.error for j in finals]
        assert {j.job_id: j.model for j in client.list_jobs(video_id)} == {
            default_job.job_id: "samem-compact", present_job.job_id: "present",
        }  # fmt: skip
        results = [
            client._unary(client.results.GetTrajectories, pb.GetTrajectoriesRequest(job_id=j.job_id))
            for j in (default_job, present_job)
        ]
    shipped, present = results
    assert (shipped.model, shipped.model_spec) == ("samem-compact", "samem-compact")
    assert shipped.model_checkpoint_sha256 == file_sha256(shipped_checkpoint("samem-compact"))
    assert (present.model, present.model_spec) == ("present", f"samem-compact:{stack.checkpoint}")
    assert present.model_checkpoint_sha256 == file_sha256(stack.checkpoint)
    assert shipped.csv != present.csv  # different weights, different masks
    with torch_threads(1):  # each job equals samem.track with its model
        for message, model in ((shipped, "samem-compact"), (present, f"samem-compact:{stack.checkpoint}")):
            out = tmp_path / message.model
            track(video[0], video[1], model=model, out_dir=out, overlay=None)
            assert message.csv == (out / "trajectories.csv").read_bytes(), message.model


@pytest.mark.slow
def test_an_unknown_model_is_an_invalid_argument_naming_the_offered_models(
    stack: Stack, video: tuple[Path, list]
) -> None:
    with stack.client() as client:
        video_id = client.upload_video(video[0]).video_id
        client.set_prompts(video_id, video[1])
        with pytest.raises(ClientError, match=r"INVALID_ARGUMENT: unknown model 'sam-em': this service offers "
                                              r"samem-compact \(default\), present") as error:  # fmt: skip
            client.start_propagation(video_id, model="sam-em")
        assert error.value.code.name == "INVALID_ARGUMENT"
        assert client.list_jobs(video_id) == []  # nothing was queued


@pytest.mark.slow
def test_with_a_triton_backend_only_the_default_model_can_be_started(stack: Stack, video: tuple[Path, list]) -> None:
    config = ServiceConfig(
        redis_url=stack.config.redis_url, storage=stack.config.storage, tokens=TOKENS, prefix="samem-triton",
        models=stack.config.models, backend="triton://127.0.0.1:1",
    )  # fmt: skip
    server, port, _ = create_server(config)  # no worker: the jobs stay queued
    try:
        with Client(f"127.0.0.1:{port}", token="alice-token") as client:
            video_id = client.upload_video(video[0]).video_id
            client.set_prompts(video_id, video[1])
            with pytest.raises(ClientError, match=r"FAILED_PRECONDITION: model 'present' cannot run here: .* Triton "
                                                  r"\(triton://127.0.0.1:1\), which serves one model, the default "
                                                  r"'samem-compact'"):  # fmt: skip
                client.start_propagation(video_id, model="present")
            assert client.start_propagation(video_id).model == "samem-compact"
    finally:
        server.stop(0)
