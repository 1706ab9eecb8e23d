"""Dockerfiles and compose.yaml, checked by reading (no Docker engine here): what they copy exists, what they run
exists, base images are pinned, users are not root, and names and ports agree with the package and the chart."""

from __future__ import annotations

import dataclasses
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from samem.cli import build_parser
from samem.service.config import ServiceConfig

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
VALUES = yaml.safe_load((ROOT / "charts" / "samem" / "values.yaml").read_text())
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
#: Variables the package reads besides ServiceConfig's: the client's address and token.
CLIENT_ENV = {"SAMEM_ADDRESS", "SAMEM_TOKEN"}


@dataclasses.dataclass
class Instruction:
    keyword: str
    text: str


def instructions(path: Path) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        current += " " + line.rstrip("\\").strip() if current else line.rstrip("\\").strip()
        if not line.endswith("\\"):
            lines.append(current)
            current = ""
    out = []
    for line in lines:
        keyword, _, text = line.partition(" ")
        out.append(Instruction(keyword.upper(), text.strip()))
    return out


def arg_defaults(steps: list[Instruction]) -> dict[str, str]:
    return dict(s.text.split("=", 1) for s in steps if s.keyword == "ARG" and "=" in s.text)


def expand(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), m.group(0)), text)


def stages(steps: list[Instruction]) -> list[list[Instruction]]:
    out: list[list[Instruction]] = []
    for step in steps:
        if step.keyword == "FROM":
            out.append([])
        if out:
            out[-1].append(step)
    return out


def subcommands() -> set[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return set(action.choices)


def test_there_are_the_three_images() -> None:
    assert {p.name for p in DOCKERFILES} == {"samem.Dockerfile", "dashboard.Dockerfile", "triton.Dockerfile"}


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_base_images_are_pinned_to_a_version_tag(path: Path) -> None:
    steps = instructions(path)
    args = arg_defaults(steps)
    stage_names = set()
    for step in (s for s in steps if s.keyword == "FROM"):
        image, *rest = expand(step.text, args).split()
        if image in stage_names:
            continue
        name, _, tag = image.rpartition(":")
        assert name and re.fullmatch(r"\d+(\.\d+)+[-.\w]*", tag), f"{path.name}: {image} is not pinned to a version"
        if rest:
            stage_names.add(rest[-1])


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_the_final_stage_runs_as_a_numeric_non_root_user(path: Path) -> None:
    final = stages(instructions(path))[-1]
    users = [s.text for s in final if s.keyword == "USER"]
    assert users, f"{path.name}: the final stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0 and (not gid or int(gid) > 0)  # numeric: runAsNonRoot can verify it


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_what_the_images_copy_exists_in_the_repository_or_is_made_by_samem_export(path: Path) -> None:
    steps = instructions(path)
    args = arg_defaults(steps)
    for step in (s for s in steps if s.keyword == "COPY"):
        words = [w for w in shlex.split(step.text) if not w.startswith("--chown")]
        if any(w.startswith("--from") for w in words):
            continue
        for source in (expand(w, args) for w in words[:-1]):
            if source.startswith("model_repository/"):  # generated (git-ignored): see the next test
                assert "samem export" in path.read_text()
                continue
            assert (ROOT / source).exists(), f"{path.name} copies {source}, which is not in the repository"


def test_samem_export_writes_the_layout_the_triton_image_serves(tmp_path: Path) -> None:
    steps = instructions(DOCKER / "triton.Dockerfile")
    args = arg_defaults(steps)
    (copy,) = [s for s in steps if s.keyword == "COPY"]
    assert expand(copy.text, args).split()[-2:] == ["model_repository/gpu", "/models"]
    assert "--model-repository=/models" in next(s.text for s in steps if s.keyword == "CMD")
    assert "/gpu" in (ROOT / "model_repository" / "README.md").read_text()
    out = tmp_path / "repository"
    subprocess.run(
        [sys.executable, "-m", "samem", "export", "--model", "samem-compact:random", "--out", str(out)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    models = {p.parent.name for p in out.glob("*/config.pbtxt")}
    assert models == {
        "samem_encode_frame", "samem_decode_prompts", "samem_encode_memory", "samem_track_frame", "samem_track_image"
    }  # fmt: skip
    assert all((out / m / "1").is_dir() for m in models)


def test_the_samem_image_installs_what_the_makefile_installs_and_runs_the_samem_command() -> None:
    text = (DOCKER / "samem.Dockerfile").read_text()
    makefile = (ROOT / "Makefile").read_text()
    torch = re.search(r"torch==([\w.]+)", makefile)
    assert torch and f"ARG TORCH_VERSION={torch.group(1)}" in text
    for pin in ("sam2==", "nvidia-pytriton=="):
        version = re.search(re.escape(pin) + r"([\w.]+)", makefile)
        assert version and f"{pin}{version.group(1)}" in text
    assert "SAM2_BUILD_CUDA=0 pip install --no-deps --no-build-isolation sam2==" in text
    assert "pip install --no-deps nvidia-pytriton==" in text
    assert "ARG TORCH_INDEX=cpu" in text  # CPU by default, CUDA by build argument
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'samem = "samem.cli:main"' in pyproject  # the console script the entry point calls
    entrypoint = next(s.text for s in instructions(DOCKER / "samem.Dockerfile") if s.keyword == "ENTRYPOINT")
    assert yaml.safe_load(entrypoint) == ["samem"]


def test_the_samem_command_has_every_subcommand_the_chart_and_compose_run() -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "samem", "--help"], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    used = {"serve", "worker", "export", "triton"}
    assert used <= subcommands()
    for name in used:
        assert re.search(rf"^\s+{name}\s", help_text, re.MULTILINE), name
    for service in ("export", "service", "worker"):
        assert COMPOSE["services"][service]["command"][0] in used


def test_the_dashboard_image_installs_the_extra_and_runs_streamlit_headless_on_8501() -> None:
    steps = instructions(DOCKER / "dashboard.Dockerfile")
    assert any(s.keyword == "RUN" and 'pip install ".[dashboard]"' in s.text for s in steps)
    entrypoint = yaml.safe_load(next(s.text for s in steps if s.keyword == "ENTRYPOINT"))
    assert entrypoint[:3] == ["streamlit", "run", "dashboard/app.py"]
    options = dict(zip(entrypoint[3::2], entrypoint[4::2], strict=True))
    assert options["--server.port"] == str(VALUES["dashboard"]["port"]) == "8501"
    assert options["--server.headless"] == "true"
    assert (ROOT / "dashboard" / "app.py").exists()
    assert "EXPOSE 8501" in (DOCKER / "dashboard.Dockerfile").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r"^dashboard = \[", pyproject, re.MULTILINE)


def test_compose_runs_the_five_services_from_existing_dockerfiles() -> None:
    services = COMPOSE["services"]
    assert {"redis", "triton", "service", "worker", "dashboard"} <= set(services)
    for name, service in services.items():
        build = service.get("build")
        if build:
            assert (ROOT / build["context"] / build["dockerfile"]).exists(), name
        image = service["image"]
        assert re.search(r":\d+(\.\d+)+[-.\w]*$", image), f"{name}: {image} is not pinned"


def test_compose_gives_triton_the_gpu_and_a_large_shm() -> None:
    triton = COMPOSE["services"]["triton"]
    (device,) = triton["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"] and device["count"] >= 1
    assert triton["shm_size"]
    assert triton["depends_on"]["export"]["condition"] == "service_completed_successfully"


def test_compose_and_the_chart_use_the_same_images_and_ports() -> None:
    services = COMPOSE["services"]
    triton_image = f"{VALUES['triton']['image']['repository']}:{VALUES['triton']['image']['tag']}"
    assert services["triton"]["image"] == triton_image
    assert services["redis"]["image"].split(":")[-1] == VALUES["redis"]["image"]["tag"]
    command = services["triton"]["command"]
    for name, port in VALUES["triton"]["ports"].items():
        assert f"--{name}-port={port}" in command
    assert services["service"]["command"] == ["serve", "--address", f"0.0.0.0:{VALUES['service']['port']}"]
    assert services["worker"]["environment"]["SAMEM_BACKEND"] == f"triton://triton:{VALUES['triton']['ports']['grpc']}"
    assert services["service"]["environment"]["SAMEM_METRICS_PORT"] == str(VALUES["metrics"]["port"])
    assert services["dashboard"]["environment"]["SAMEM_ADDRESS"] == f"service:{VALUES['service']['port']}"
    assert f"127.0.0.1:8501:{VALUES['dashboard']['port']}" in services["dashboard"]["ports"]
    triton_dockerfile = (DOCKER / "triton.Dockerfile").read_text()
    assert f"ARG TRITON_IMAGE={triton_image}" in triton_dockerfile


def _samem_env_names(environment: dict[str, Any]) -> set[str]:
    return {k for k in environment if k.startswith("SAMEM_")}


def test_every_samem_variable_in_compose_is_one_the_package_reads() -> None:
    known = {f"SAMEM_{f.name.upper()}" for f in dataclasses.fields(ServiceConfig)} | CLIENT_ENV
    for name, service in COMPOSE["services"].items():
        names = _samem_env_names(service.get("environment", {}))
        assert names <= known, f"{name}: unknown {sorted(names - known)}"
    assert "SAMEM_METRICS_PORT" in known and "SAMEM_TOKENS_FILE" in known


def test_every_samem_variable_the_chart_sets_is_one_the_package_reads() -> None:
    from helm_python.chart import Chart

    manifests = Chart.load(ROOT / "charts" / "samem").render(values={}, name="rel")
    known = {f"SAMEM_{f.name.upper()}" for f in dataclasses.fields(ServiceConfig)} | CLIENT_ENV
    used = set(re.findall(r"\b(SAMEM_[A-Z_]+)\b", "\n".join(manifests.values())))
    assert {"SAMEM_REDIS_URL", "SAMEM_TOKENS_FILE", "SAMEM_BACKEND", "SAMEM_METRICS_PORT"} <= used
    assert used <= known, sorted(used - known)
