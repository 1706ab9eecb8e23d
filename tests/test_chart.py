"""The Helm chart charts/samem: lint, render with Helm's own Go code, validate every object against Kubernetes 1.32.

Each values set renders once per module; assertions read the rendered objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from helm_python.chart import Chart, lint
from helm_python.errors import HelmRenderError, HelmValuesError

from samem.service.auth import Authenticator
from samem.service.catalogue import Catalogue

CHART = Path(__file__).resolve().parents[1] / "charts" / "samem"
PRODUCTION = CHART / "values-gpu-production.yaml"
KUBERNETES = "1.32"
RELEASE, NAMESPACE = "rel", "samem"
CRDS = {
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
}
WORKLOADS = ("Deployment", "StatefulSet")


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


VALUE_SETS: dict[str, dict[str, Any]] = {
    "default": {},
    "production": load(PRODUCTION),
    **{f"ci/{p.stem}": load(p) for p in sorted((CHART / "ci").glob("*.yaml"))},
}


class Rendered:
    """The objects of one render, with NOTES.txt."""

    def __init__(self, manifests: dict[str, str]) -> None:
        self.notes = next((v for k, v in manifests.items() if k.endswith("NOTES.txt")), "")
        self.objects = [
            doc
            for path, text in sorted(manifests.items())
            if not path.endswith("NOTES.txt")
            for doc in yaml.safe_load_all(text)
            if doc
        ]

    def kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, component: str) -> dict[str, Any]:
        name = f"{RELEASE}-samem-{component}"
        found = [o for o in self.kind(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
        return found[0]

    def has(self, kind: str, component: str) -> bool:
        return any(o["metadata"]["name"] == f"{RELEASE}-samem-{component}" for o in self.kind(kind))

    def pod(self, component: str) -> dict[str, Any]:
        kind = "StatefulSet" if component == "redis" else "Deployment"
        return self.get(kind, component)["spec"]["template"]

    def container(self, component: str, name: str | None = None) -> dict[str, Any]:
        containers = self.pod(component)["spec"]["containers"]
        return next(c for c in containers if name is None or c["name"] == name)

    def config(self) -> dict[str, str]:
        return self.get("ConfigMap", "config")["data"]


@pytest.fixture(scope="module")
def chart() -> Chart:
    return Chart.load(CHART)


def render(chart: Chart, values: dict[str, Any]) -> Rendered:
    return Rendered(chart.render(values=values, name=RELEASE, namespace=NAMESPACE))


@pytest.fixture(scope="module")
def renders(chart: Chart) -> dict[str, Rendered]:
    return {name: render(chart, values) for name, values in VALUE_SETS.items()}


@pytest.fixture(scope="module")
def default(renders: dict[str, Rendered]) -> Rendered:
    return renders["default"]


@pytest.fixture(scope="module")
def production(renders: dict[str, Rendered]) -> Rendered:
    return renders["production"]


@pytest.fixture(scope="module")
def hpa(renders: dict[str, Rendered]) -> Rendered:
    return renders["ci/hpa-external-redis-values"]


@pytest.fixture(scope="module")
def cpu(renders: dict[str, Rendered]) -> Rendered:
    return renders["ci/cpu-values"]


@pytest.fixture(scope="module")
def tls(renders: dict[str, Rendered]) -> Rendered:
    return renders["ci/tls-models-values"]


def containers_of(workload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


# ----- lint and validation -----


@pytest.mark.parametrize("values", [None, PRODUCTION], ids=["default", "production"])
def test_lint_in_strict_mode_reports_nothing(values: Path | None) -> None:
    report = lint(CHART, load(values) if values else None, strict=True, kube_version="v1.32.0")
    assert report["errors"] == [] and report["messages"] == [], report


def test_the_ci_values_sets_and_the_production_file_are_all_rendered() -> None:
    assert {"default", "production", "ci/default-values", "ci/hpa-external-redis-values", "ci/cpu-values",
            "ci/tls-models-values"} <= set(VALUE_SETS)  # fmt: skip


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_rendered_object_validates_strictly_against_kubernetes(renders: dict[str, Rendered], name: str) -> None:
    objects = renders[name].objects
    assert len(objects) > 10
    for obj in objects:
        if obj["kind"] in {kind for _, kind in CRDS}:
            assert (obj["apiVersion"], obj["kind"]) in CRDS  # a CRD: no bundled schema, pin its API instead
            assert obj["spec"]
            continue
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_object_carries_the_standard_labels(renders: dict[str, Rendered], name: str) -> None:
    for obj in renders[name].objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "samem"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"] == "samem-0.1.0"
        assert labels["app.kubernetes.io/component"]


def test_a_strict_validator_would_notice_a_broken_object(default: Rendered) -> None:
    broken = json.loads(json.dumps(default.get("Deployment", "service")))
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicie"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


# ----- Triton -----


def test_triton_requests_and_limits_gpus_and_lands_on_gpu_nodes(production: Rendered) -> None:
    pod = production.pod("triton")["spec"]
    triton = next(c for c in pod["containers"] if c["name"] == "triton")
    assert triton["resources"]["requests"]["nvidia.com/gpu"] == 1
    assert triton["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert triton["image"] == "nvcr.io/nvidia/tritonserver:24.10-py3"
    assert triton["command"] == ["tritonserver"] and "--model-repository=/repository" in triton["args"]


def test_triton_gets_a_memory_backed_dev_shm_of_the_configured_size(production: Rendered) -> None:
    pod = production.pod("triton")["spec"]
    shm = next(v for v in pod["volumes"] if v["name"] == "shm")
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "8Gi"}
    mounts = production.container("triton", "triton")["volumeMounts"]
    assert {"name": "shm", "mountPath": "/dev/shm"} in mounts


def test_triton_probes_use_its_http_health_endpoints_with_a_startup_budget_for_model_load(production: Rendered) -> None:
    triton = production.container("triton", "triton")
    http_port = next(p["containerPort"] for p in triton["ports"] if p["name"] == "http")
    assert http_port == 8000
    for probe in ("startupProbe", "readinessProbe"):
        assert triton[probe]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert triton["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    startup = triton["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 15 * 60  # TensorRT engine builds


def test_an_init_container_exports_the_checkpoint_into_the_repository_triton_reads(production: Rendered) -> None:
    pod = production.pod("triton")["spec"]
    (export,) = pod["initContainers"]
    assert export["args"][:6] == ["export", "--model", "sam2.1_hiera_l:/models/sam_em.pt", "--variant", "onnx", "--out"]
    out = export["args"][6]
    assert {"name": "repository", "mountPath": out} in export["volumeMounts"]
    assert {"name": "repository", "mountPath": out, "readOnly": True} in production.container("triton")["volumeMounts"]
    models = next(v for v in pod["volumes"] if v["name"] == "models")
    assert models["persistentVolumeClaim"] == {"claimName": "samem-models", "readOnly": True}


def test_without_gpus_triton_runs_the_python_variant_in_the_samem_image_off_gpu_nodes(cpu: Rendered) -> None:
    pod = cpu.pod("triton")["spec"]
    triton = pod["containers"][0]
    assert "nodeSelector" not in pod and "tolerations" not in pod
    assert "nvidia.com/gpu" not in json.dumps(triton["resources"])
    assert triton["image"].startswith("ghcr.io/samem/samem:")
    assert triton["args"][:3] == ["triton", "--repository", "/repository"]
    assert triton["args"][triton["args"].index("--host") + 1] == "0.0.0.0"
    assert pod["initContainers"][0]["args"][2:5] == ["samem-compact:/models/compact.pt", "--variant", "python"]


def test_a_triton_repository_from_a_claim_needs_no_export(hpa: Rendered) -> None:
    pod = hpa.pod("triton")["spec"]
    assert "initContainers" not in pod
    repository = next(v for v in pod["volumes"] if v["name"] == "repository")
    assert repository["persistentVolumeClaim"]["claimName"] == "samem-repository"


# ----- service, workers, dashboard -----


def test_the_grpc_service_uses_native_grpc_probes_on_its_port(default: Rendered) -> None:
    service = default.container("service")
    assert service["args"] == ["serve", "--address", "0.0.0.0:50051"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert service[probe]["grpc"] == {"port": 50051}
    svc = default.get("Service", "service")["spec"]
    assert {"name": "grpc", "port": 50051, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "grpc"} in svc[
        "ports"
    ]


def test_workers_run_samem_worker_against_the_charts_triton(default: Rendered) -> None:
    worker = default.container("worker")
    assert worker["args"] == ["worker"]
    config = default.config()
    assert config["SAMEM_BACKEND"] == f"triton://{RELEASE}-samem-triton:8001"
    refs = {next(iter(r.values()))["name"] for r in worker["envFrom"]}
    assert refs == {f"{RELEASE}-samem-config", f"{RELEASE}-samem-redis-url"}
    triton_ports = {p["name"]: p["port"] for p in default.get("Service", "triton")["spec"]["ports"]}
    assert triton_ports == {"http": 8000, "grpc": 8001, "metrics": 8002}


def test_service_and_workers_share_the_rwx_storage_claim(default: Rendered) -> None:
    pvc = default.get("PersistentVolumeClaim", "storage")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    for component in ("service", "worker"):
        volumes = default.pod(component)["spec"]["volumes"]
        storage = next(v for v in volumes if v["name"] == "storage")
        assert storage["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
        mount = next(m for m in default.container(component)["volumeMounts"] if m["name"] == "storage")
        assert mount["mountPath"] == default.config()["SAMEM_STORAGE"]


def test_an_existing_storage_claim_replaces_the_charts_pvc(production: Rendered) -> None:
    assert not production.kind("PersistentVolumeClaim")
    volumes = production.pod("worker")["spec"]["volumes"]
    assert next(v for v in volumes if v["name"] == "storage")["persistentVolumeClaim"]["claimName"] == "samem-data"


def test_the_dashboard_reaches_the_service_and_is_probed_on_streamlit_health(production: Rendered) -> None:
    dashboard = production.container("dashboard")
    env = {e["name"]: e.get("value") for e in dashboard["env"]}
    assert env["SAMEM_ADDRESS"] == f"{RELEASE}-samem-service:50051"
    assert env["STREAMLIT_SERVER_HEADLESS"] == "true" and env["STREAMLIT_SERVER_PORT"] == "8501"
    assert dashboard["readinessProbe"]["httpGet"] == {"path": "/_stcore/health", "port": "http"}
    ingress = production.get("Ingress", "dashboard")["spec"]
    assert ingress["tls"] == [{"hosts": ["samem.example.org"], "secretName": "samem-dashboard-tls"}]
    assert ingress["rules"][0]["host"] == "samem.example.org"
    assert ingress["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == f"{RELEASE}-samem-dashboard"


def test_the_model_catalogue_offers_the_main_model_as_default_and_the_extra_ones(
    default: Rendered, tls: Rendered
) -> None:
    config = default.config()
    assert config["SAMEM_MODELS"] == "sam2.1_hiera_l=sam2.1_hiera_l:/models/sam_em.pt"
    assert (config["SAMEM_DEFAULT_MODEL"], config["SAMEM_MODEL_CACHE_SIZE"]) == ("sam2.1_hiera_l", "2")
    config = tls.config()
    catalogue = Catalogue.parse(config["SAMEM_MODELS"], default=config["SAMEM_DEFAULT_MODEL"])  # as the pods do
    assert [(e.name, e.spec) for e in catalogue] == [
        ("compact-v2", "samem-compact:/models/compact-v2.pt"), ("samem-compact", "samem-compact"),
        ("sam2.1-tiny", "sam2.1_hiera_t:/models/sam2.1_hiera_tiny.pt"),
    ]  # fmt: skip
    assert config["SAMEM_BACKEND"] == "local" and config["SAMEM_MODEL_CACHE_SIZE"] == "3"
    for component in ("service", "worker"):  # the service hashes the checkpoints for ListModels
        mount = next(m for m in tls.container(component)["volumeMounts"] if m["name"] == "models")
        assert mount["mountPath"] == "/models" and mount["readOnly"]


def test_tls_mounts_the_certificate_into_the_service_and_only_the_ca_into_the_dashboard(
    default: Rendered, tls: Rendered
) -> None:
    service = tls.container("service")
    env = {e["name"]: e.get("value") for e in service["env"]}
    assert (env["SAMEM_TLS_CERT"], env["SAMEM_TLS_KEY"]) == ("/etc/samem/tls/tls.crt", "/etc/samem/tls/tls.key")
    volume = next(v for v in tls.pod("service")["spec"]["volumes"] if v["name"] == "tls")
    assert volume["secret"]["secretName"] == "samem-grpc-tls"
    assert {"name": "tls", "mountPath": "/etc/samem/tls", "readOnly": True} in service["volumeMounts"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):  # Kubernetes' gRPC probes cannot do TLS
        assert service[probe]["tcpSocket"] == {"port": 50051} and "grpc" not in service[probe]
    dashboard = tls.container("dashboard")
    env = {e["name"]: e.get("value") for e in dashboard["env"]}
    assert (env["SAMEM_TLS"], env["SAMEM_TLS_CA"]) == ("1", "/etc/samem/tls/ca.crt")
    (ca,) = [v for v in tls.pod("dashboard")["spec"]["volumes"] if v["name"] == "tls-ca"]
    assert ca["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]  # never the service's private key
    assert "SAMEM_TLS_CERT" not in tls.config()  # the workers share the ConfigMap and serve nothing
    plain = {e["name"] for e in default.container("dashboard")["env"]}
    assert "SAMEM_TLS" not in plain and "SAMEM_TLS_CERT" not in {e["name"] for e in default.container("service")["env"]}


def test_no_ingress_is_rendered_by_default(default: Rendered) -> None:
    assert not default.kind("Ingress")


# ----- security -----


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_container_runs_non_root_on_a_read_only_root_with_tmp_and_resources(
    renders: dict[str, Rendered], name: str
) -> None:
    workloads = [o for o in renders[name].objects if o["kind"] in WORKLOADS]
    assert workloads
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] > 0
        assert pod["automountServiceAccountToken"] is False
        tmp_volumes = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for container in containers_of(workload):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, container["name"]
            assert context["runAsNonRoot"] is True and context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert container["resources"]["requests"] and container["resources"]["limits"], container["name"]
            tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
            assert tmp["name"] in tmp_volumes


def test_tokens_secret_holds_a_tokens_file_the_service_can_load(renders: dict[str, Rendered], tmp_path: Path) -> None:
    rendered = renders["ci/default-values"]
    secret = rendered.get("Secret", "tokens")
    path = tmp_path / "tokens.json"
    path.write_text(secret["stringData"]["tokens.json"])
    auth = Authenticator.load(path)
    assert auth.user([("authorization", "Bearer root-token-456")]).admin
    assert auth.user([("authorization", "Bearer alice-token-123")]).name == "alice"
    assert rendered.config()["SAMEM_TOKENS_FILE"] == "/etc/samem/tokens/tokens.json"
    volume = next(v for v in rendered.pod("service")["spec"]["volumes"] if v["name"] == "tokens")
    assert volume["secret"]["secretName"] == f"{RELEASE}-samem-tokens"
    mount = next(m for m in rendered.container("service")["volumeMounts"] if m["name"] == "tokens")
    assert mount["mountPath"] == "/etc/samem/tokens"


def test_an_existing_tokens_secret_is_mounted_and_none_is_created(production: Rendered) -> None:
    assert not production.has("Secret", "tokens")
    volume = next(v for v in production.pod("service")["spec"]["volumes"] if v["name"] == "tokens")
    assert volume["secret"]["secretName"] == "samem-tokens"
    assert volume["secret"]["items"] == [{"key": "tokens.json", "path": "tokens.json"}]


def peers(policy: dict[str, Any], port: int) -> list[dict[str, Any]] | None:
    """The `from` list of the rule admitting ``port`` (None: from anywhere)."""
    for rule in policy["spec"]["ingress"]:
        if any(p["port"] == port for p in rule["ports"]):
            return rule.get("from")
    raise AssertionError(f"no rule admits port {port}")


def components(peer_list: list[dict[str, Any]] | None) -> set[str]:
    assert peer_list is not None, "admits everyone"
    return {p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in peer_list}


def test_only_the_service_and_workers_reach_redis_and_triton(default: Rendered) -> None:
    assert components(peers(default.get("NetworkPolicy", "redis"), 6379)) == {"service", "worker"}
    triton = default.get("NetworkPolicy", "triton")
    assert components(peers(triton, 8001)) == {"service", "worker"}
    assert components(peers(triton, 8000)) == {"service", "worker"}


def test_only_the_dashboard_is_exposed_unless_the_grpc_service_is_opened(
    default: Rendered, production: Rendered
) -> None:
    assert peers(default.get("NetworkPolicy", "dashboard"), 8501) is None  # the entry point
    assert components(peers(default.get("NetworkPolicy", "service"), 50051)) == {"dashboard"}
    assert peers(production.get("NetworkPolicy", "service"), 50051) == [{"ipBlock": {"cidr": "10.0.0.0/8"}}]
    worker_rules = production.get("NetworkPolicy", "worker")["spec"]["ingress"]
    assert [r["ports"] for r in worker_rules] == [[{"port": 9100, "protocol": "TCP"}]]  # metrics only


def test_every_pod_is_selected_by_a_network_policy(production: Rendered) -> None:
    selected = {p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                for p in production.kind("NetworkPolicy")}  # fmt: skip
    pods = {o["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
            for o in production.objects if o["kind"] in WORKLOADS}  # fmt: skip
    assert pods == selected == {"service", "worker", "triton", "redis", "dashboard"}


# ----- Redis -----


def test_the_charts_redis_is_a_statefulset_with_an_append_only_file_on_a_pvc(default: Rendered) -> None:
    redis = default.get("StatefulSet", "redis")["spec"]
    args = redis["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--appendonly") + 1] == "yes" and args[args.index("--dir") + 1] == "/data"
    (claim,) = redis["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data" and claim["spec"]["resources"]["requests"]["storage"] == "16Gi"
    url = default.get("Secret", "redis-url")["stringData"]["SAMEM_REDIS_URL"]
    assert url == f"redis://{RELEASE}-samem-redis:6379/0"


def test_an_external_redis_drops_the_statefulset_and_reaches_the_pods_through_a_secret(hpa: Rendered) -> None:
    assert not hpa.kind("StatefulSet")
    assert not hpa.has("Service", "redis") and not hpa.has("NetworkPolicy", "redis")
    url = hpa.get("Secret", "redis-url")["stringData"]["SAMEM_REDIS_URL"]
    assert url == "redis://:s3cret@redis.shared.svc:6379/2"
    assert "s3cret" not in json.dumps(hpa.kind("ConfigMap"))


# ----- autoscaling, disruption budgets, metrics -----


def test_keda_scales_workers_on_the_redis_queue_and_triton_on_its_queue_time(production: Rendered) -> None:
    assert not production.kind("HorizontalPodAutoscaler")
    worker = production.get("ScaledObject", "worker")["spec"]
    assert worker["scaleTargetRef"] == {"name": f"{RELEASE}-samem-worker"}
    assert (worker["minReplicaCount"], worker["maxReplicaCount"]) == (2, 32)
    (trigger,) = worker["triggers"]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["address"] == f"{RELEASE}-samem-redis:6379"
    assert trigger["metadata"]["listName"] == production.config()["SAMEM_PREFIX"] == "samem"
    triton = production.get("ScaledObject", "triton")["spec"]
    (trigger,) = triton["triggers"]
    assert trigger["type"] == "prometheus" and "nv_inference_queue_duration_us" in trigger["metadata"]["query"]
    assert trigger["metadata"]["serverAddress"] == "http://prometheus-operated.monitoring.svc:9090"
    for component in ("worker", "triton"):  # KEDA owns the replica count
        assert "replicas" not in production.get("Deployment", component)["spec"]


def test_hpa_mode_scales_on_the_queue_length_and_triton_queue_metrics(hpa: Rendered) -> None:
    assert not hpa.kind("ScaledObject")
    worker = hpa.get("HorizontalPodAutoscaler", "worker")["spec"]
    (metric,) = worker["metrics"]
    assert metric["type"] == "External" and metric["external"]["metric"]["name"] == "samem_queue_length"
    assert metric["external"]["target"] == {"type": "AverageValue", "averageValue": "2"}
    triton = hpa.get("HorizontalPodAutoscaler", "triton")["spec"]
    assert triton["metrics"][0]["type"] == "Pods" and triton["scaleTargetRef"]["name"] == f"{RELEASE}-samem-triton"
    assert "replicas" not in hpa.get("Deployment", "worker")["spec"]


def test_without_autoscaling_replicas_are_fixed(default: Rendered) -> None:
    assert not default.kind("HorizontalPodAutoscaler") and not default.kind("ScaledObject")
    assert default.get("Deployment", "worker")["spec"]["replicas"] == 2
    assert default.get("Deployment", "triton")["spec"]["replicas"] == 1


def test_every_scaled_component_has_a_disruption_budget_selecting_its_pods(production: Rendered) -> None:
    for component in ("service", "worker", "triton", "dashboard"):
        budget = production.get("PodDisruptionBudget", component)["spec"]
        labels = production.pod(component)["metadata"]["labels"]
        assert budget["selector"]["matchLabels"].items() <= labels.items()
        assert ("minAvailable" in budget) != ("maxUnavailable" in budget)
    assert production.get("PodDisruptionBudget", "service")["spec"]["minAvailable"] == 1


def test_prometheus_scrapes_the_service_workers_and_tritons_metrics_port(production: Rendered) -> None:
    assert production.config()["SAMEM_METRICS_PORT"] == "9100"
    for component in ("service", "worker"):
        ports = {p["name"]: p["containerPort"] for p in production.container(component)["ports"]}
        assert ports["metrics"] == 9100
    assert production.get("Service", "worker")["spec"]["clusterIP"] == "None"  # metrics discovery only
    for component in ("service", "worker", "triton"):
        monitor = production.get("ServiceMonitor", component)
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
        service = production.get("Service", component)
        assert service["metadata"]["labels"].items() >= monitor["spec"]["selector"]["matchLabels"].items()
        ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
        assert ports["metrics"] == (8002 if component == "triton" else 9100)


def test_no_monitors_without_the_prometheus_operator(default: Rendered) -> None:
    assert not default.kind("ServiceMonitor")


# ----- configuration changes, checks, notes -----


def checksums(rendered: Rendered) -> set[str]:
    return {
        o["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        for o in rendered.objects
        if o["kind"] == "Deployment"
    }


def test_the_checksum_annotation_changes_with_the_configuration(chart: Chart, default: Rendered) -> None:
    (base,) = checksums(default)
    assert checksums(render(chart, {})) == {base}  # deterministic
    (changed,) = checksums(render(chart, {"worker": {"checkpointEvery": 5}}))
    (more_users,) = checksums(render(chart, {"auth": {"users": [{"name": "bob", "token": "bob-token-789"}]}}))
    assert len({base, changed, more_users}) == 3


FAILURES = [
    ({"redis": {"enabled": False}}, "redis.enabled=false needs redis.externalUrl"),
    ({"redis": {"externalUrl": "redis://r:6379/0"}}, "redis.enabled=true and redis.externalUrl are both set"),
    ({"autoscaling": {"mode": "keda"}}, "set autoscaling.keda.prometheusServerAddress"),
    (
        {
            "autoscaling": {"mode": "keda", "triton": {"enabled": False}},
            "redis": {"enabled": False, "externalUrl": "redis://r:6379/0"},
        },
        "needs autoscaling.keda.redisAddress",
    ),
    (
        {"autoscaling": {"worker": {"minReplicas": 5, "maxReplicas": 2}}},
        r"autoscaling.worker.minReplicas \(5\) exceeds",
    ),
    (
        {"dashboard": {"ingress": {"enabled": True, "tls": {"enabled": True, "secretName": "x"}}}},
        "dashboard.ingress.tls.enabled=true needs dashboard.ingress.hosts",
    ),
    ({"dashboard": {"ingress": {"enabled": True}}}, "needs at least one host in dashboard.ingress.hosts"),
    (
        {"dashboard": {"ingress": {"enabled": True, "hosts": ["a.org"], "tls": {"enabled": True}}}},
        "needs dashboard.ingress.tls.secretName",
    ),
    (
        {"autoscaling": {"mode": "hpa", "worker": {"minReplicas": 0}}},
        "autoscaling.mode=hpa cannot scale workers to zero",
    ),
    ({"triton": {"gpus": 0}}, "model.variant=onnx runs on GPUs"),
    (
        {"model": {"variant": "python"}, "triton": {"repository": {"source": "image"}}},
        "triton.repository.source=image serves the ONNX repository",
    ),
    ({"triton": {"repository": {"source": "claim"}}}, "needs triton.repository.existingClaim"),
    ({"model": {"checkpoint": ""}}, "triton.repository.source=export needs model.checkpoint"),
    ({"worker": {"backend": "grpc://x:1"}}, "worker.backend must be empty, local or triton://HOST:PORT"),
    ({"auth": {"requireUsers": True}}, "no users: set auth.users"),
    ({"tls": {"enabled": True}}, "tls.enabled=true needs tls.secretName"),
    (
        {"model": {"extra": [{"name": "shipped", "model": "samem-compact"}]}},
        "model.extra offers models the workers build in process, but they run on Triton",
    ),
    (
        {
            "worker": {"backend": "local"},
            "model": {"extra": [{"name": "sam2.1_hiera_l", "model": "samem-compact"}]},
        },
        'the model name "sam2.1_hiera_l" is used twice',
    ),
]


@pytest.mark.parametrize(("values", "message"), FAILURES, ids=[m[:40] for _, m in FAILURES])
def test_contradictory_values_fail_with_a_message_naming_the_fix(
    chart: Chart, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(HelmRenderError, match=message):
        chart.render(values=values, name=RELEASE, namespace=NAMESPACE)


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"triton": {"gpu": 1}}, "gpu"),  # a typo of gpus
        ({"autoscaling": {"mode": "kedaa"}}, "/autoscaling/mode"),
        ({"service": {"port": "50051"}}, "/service/port"),
        ({"model": {"variant": "tensorrt"}}, "/model/variant"),
        ({"auth": {"users": [{"name": "x", "token": "short"}]}}, "token"),
        ({"model": {"extra": [{"name": "a b", "model": "samem-compact"}]}}, "name"),
        ({"tls": {"enable": True}}, "enable"),
    ],
)
def test_the_values_schema_rejects_typos_and_wrong_types(chart: Chart, values: dict[str, Any], where: str) -> None:
    with pytest.raises(HelmValuesError, match=f"(?s)schema.*{where}"):
        chart.render(values=values, name=RELEASE, namespace=NAMESPACE)


def test_notes_tell_the_operator_how_to_reach_the_dashboard_and_the_api_and_add_users(
    default: Rendered, production: Rendered
) -> None:
    assert f"port-forward svc/{RELEASE}-samem-dashboard 8501:8501" in default.notes
    assert f"{RELEASE}-samem-service.{NAMESPACE}.svc:50051" in default.notes
    assert "WARNING: no users are configured" in default.notes
    assert "https://samem.example.org/" in production.notes
    assert "create secret generic samem-tokens" in production.notes
    assert f"rollout restart deployment/{RELEASE}-samem-service" in production.notes
    assert "WARNING" not in production.notes
