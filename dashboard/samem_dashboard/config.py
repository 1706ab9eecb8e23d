"""Dashboard settings from the environment (``SAMEM_*``): where the service is, the token to prefill, local folders.

Precedence: keyword argument, then environment variable, then default. The dashboard reads no other configuration.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from samem.errors import InputError

DEFAULT_ADDRESS = "127.0.0.1:50051"
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True, kw_only=True)
class DashboardConfig:
    """What the dashboard needs to know about its deployment.

    ``address`` (``SAMEM_ADDRESS``) is the gRPC service as HOST:PORT; ``token`` (``SAMEM_TOKEN``) prefills the
    sign-in field; ``cache_dir`` (``SAMEM_DASHBOARD_CACHE``) keeps the copy of each browser upload that is sent to
    the service; ``timeout_s`` (``SAMEM_DASHBOARD_TIMEOUT_S``) bounds each unary call. ``tls`` (``SAMEM_TLS=1``)
    connects with TLS trusting the system's CAs, or ``tls_ca`` (``SAMEM_TLS_CA``, a PEM file; implies TLS).
    """

    address: str = DEFAULT_ADDRESS
    token: str = ""
    cache_dir: Path = Path.home() / ".cache" / "samem-dashboard"
    timeout_s: float = 30.0
    tls: bool = False
    tls_ca: Path | None = None

    def __post_init__(self) -> None:
        host, _, port = self.address.rpartition(":")
        if not host or not port.isdigit():
            raise InputError(f"SAMEM_ADDRESS must be HOST:PORT, got {self.address!r}")
        if self.timeout_s <= 0:
            raise InputError(f"SAMEM_DASHBOARD_TIMEOUT_S must be > 0, got {self.timeout_s}")
        if self.tls_ca is not None and not self.tls_ca.is_file():
            raise InputError(f"SAMEM_TLS_CA={str(self.tls_ca)!r} is not a file (the PEM CA certificate to trust)")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> DashboardConfig:
        """Overrides (not None) first, then ``SAMEM_*`` variables, then the defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        if env.get("SAMEM_ADDRESS"):
            values["address"] = env["SAMEM_ADDRESS"].strip()
        if env.get("SAMEM_TOKEN"):
            values["token"] = env["SAMEM_TOKEN"].strip()
        if env.get("SAMEM_DASHBOARD_CACHE"):
            values["cache_dir"] = Path(env["SAMEM_DASHBOARD_CACHE"]).expanduser()
        if env.get("SAMEM_TLS"):
            text = env["SAMEM_TLS"].strip().lower()
            if text not in TRUE + FALSE:
                raise InputError(f"SAMEM_TLS must be 1 or 0 (true/false), got {env['SAMEM_TLS']!r}")
            values["tls"] = text in TRUE
        if env.get("SAMEM_TLS_CA"):
            values["tls_ca"] = Path(env["SAMEM_TLS_CA"]).expanduser()
        if env.get("SAMEM_DASHBOARD_TIMEOUT_S"):
            text = env["SAMEM_DASHBOARD_TIMEOUT_S"]
            try:
                values["timeout_s"] = float(text)
            except ValueError as e:
                raise InputError(f"SAMEM_DASHBOARD_TIMEOUT_S={text!r} is not a number of seconds") from e
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
