"""TLS of the gRPC server: its certificate and key (PEM files named by the configuration) as gRPC credentials."""

from __future__ import annotations

from pathlib import Path

import grpc

from samem.errors import InputError


def read_pem(path: Path, what: str) -> bytes:
    """The bytes of a PEM file, or an InputError naming the file and the setting."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InputError(f"TLS {what} {str(path)!r} cannot be read: {e.strerror or e}") from e
    if b"-----BEGIN " not in data:
        raise InputError(f"TLS {what} {str(path)!r} is not a PEM file (no '-----BEGIN' line)")
    return data


def server_credentials(cert: Path, key: Path) -> grpc.ServerCredentials:
    """Credentials of a server presenting ``cert`` (its chain, PEM) with private key ``key`` (PEM)."""
    return grpc.ssl_server_credentials(
        [(read_pem(key, "key (SAMEM_TLS_KEY)"), read_pem(cert, "certificate (SAMEM_TLS_CERT)"))]
    )
