"""TLS: the real gRPC server (with a real Redis) listening with a certificate signed by a CA made here (openssl).

A client trusting that CA works; a plaintext client and a client trusting another CA are refused (UNAVAILABLE).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from service_support import TOKENS, redis_server

from samem.client import Client, ClientError
from samem.errors import InputError, SamemError
from samem.service.config import ServiceConfig
from samem.service.server import create_server

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command to make certificates")


def _openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run([OPENSSL, *map(str, args)], cwd=cwd, check=True, capture_output=True)


def make_ca(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed CA certificate and key (EC P-256, valid 2 days)."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
             "-keyout", "ca.key", "-out", "ca.crt", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=folder)  # fmt: skip
    return folder / "ca.crt", folder / "ca.key"


def make_server_cert(folder: Path, ca: tuple[Path, Path]) -> tuple[Path, Path]:
    """A server certificate for localhost and 127.0.0.1 signed by ``ca``; (certificate, key)."""
    (folder / "ext.cnf").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=folder)  # fmt: skip
    _openssl("x509", "-req", "-in", "server.csr", "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial", "-days", "2",
             "-out", "server.crt", "-extfile", "ext.cnf", cwd=folder)  # fmt: skip
    return folder / "server.crt", folder / "server.key"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tls")
    ca = make_ca(root / "ca", "samem test CA")
    cert, key = make_server_cert(root / "ca", ca)
    other_ca, _ = make_ca(root / "other", "another CA")
    return {"ca": ca[0], "cert": cert, "key": key, "other_ca": other_ca}


@pytest.fixture(scope="module")
def address(certificates: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server() as url:
        config = ServiceConfig.from_env(
            {"SAMEM_TLS_CERT": str(certificates["cert"]), "SAMEM_TLS_KEY": str(certificates["key"])},
            redis_url=url, storage=tmp_path_factory.mktemp("storage"), tokens=TOKENS,
        )  # fmt: skip
        server, port, _ = create_server(config)
        try:
            yield f"127.0.0.1:{port}"
        finally:
            server.stop(0)


def test_a_client_trusting_the_servers_ca_talks_to_it_over_tls(address: str, certificates: dict[str, Path]) -> None:
    with Client(address, token="alice-token", root_ca=certificates["ca"], timeout_s=10) as client:
        assert client.list_videos() == []
        assert [m.name for m in client.list_models()] == ["samem-compact"]
    with Client(f"localhost:{address.rsplit(':', 1)[1]}", token="alice-token", tls=True,
                root_ca=certificates["ca"]) as client:  # fmt: skip
        assert client.list_videos() == []  # the DNS name of the certificate too
    with Client(address, token="alice-token", root_ca=certificates["ca"], server_name="localhost") as client:
        assert client.list_videos() == []  # a name to check other than the address's host
    wrong = Client(address, token="alice-token", root_ca=certificates["ca"], server_name="other.example", timeout_s=10)
    with wrong, pytest.raises(ClientError) as error:
        wrong.list_videos()
    assert error.value.code == grpc.StatusCode.UNAVAILABLE
    credentials = grpc.ssl_channel_credentials(root_certificates=certificates["ca"].read_bytes())
    with grpc.secure_channel(address, credentials) as channel:  # health checks over TLS
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_samem_remote_lists_the_models_over_tls_with_the_ca_it_is_given(
    address: str, certificates: dict[str, Path]
) -> None:
    env = {**os.environ, "SAMEM_TOKEN": "alice-token"}
    command = [sys.executable, "-m", "samem", "remote", "--address", address, "--tls-ca", str(certificates["ca"]),
               "models"]  # fmt: skip
    listed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    name, description, digest = listed.stdout.splitlines()[0].split("\t")
    assert name == "samem-compact (default)" and "shipped" in description and len(digest) == 12


def test_a_plaintext_client_is_refused_with_unavailable(address: str) -> None:
    with Client(address, token="alice-token", timeout_s=10) as client, pytest.raises(ClientError) as error:
        client.list_videos()
    assert error.value.code == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("trust", ["other_ca", "system"])
def test_a_client_that_does_not_trust_the_servers_ca_is_refused_with_unavailable(
    address: str, certificates: dict[str, Path], trust: str
) -> None:
    root_ca = certificates["other_ca"] if trust == "other_ca" else None
    client = Client(address, token="alice-token", tls=True, root_ca=root_ca, timeout_s=10)
    with client, pytest.raises(ClientError) as error:
        client.list_videos()
    assert error.value.code == grpc.StatusCode.UNAVAILABLE


def test_tls_settings_are_checked_with_messages_naming_the_file(certificates: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="TLS needs both SAMEM_TLS_CERT and SAMEM_TLS_KEY"):
        ServiceConfig(tls_cert=certificates["cert"])
    (tmp_path / "cert.txt").write_text("not a certificate")
    config = ServiceConfig(storage=tmp_path / "storage", tls_cert=tmp_path / "cert.txt", tls_key=certificates["key"])
    with pytest.raises(InputError, match=r"TLS certificate \(SAMEM_TLS_CERT\) '.*cert.txt' is not a PEM file"):
        create_server(config)
    config = ServiceConfig(storage=tmp_path / "storage", tls_cert=certificates["cert"], tls_key=tmp_path / "no.key")
    with pytest.raises(InputError, match=r"TLS key \(SAMEM_TLS_KEY\) '.*no.key' cannot be read"):
        create_server(config)
    with pytest.raises(SamemError, match=r"TLS CA file '.*missing.pem' cannot be read"):
        Client("127.0.0.1:1", token="alice-token", root_ca=tmp_path / "missing.pem")
