"""Bearer tokens -> users: a JSON tokens file and/or ``token=user[:admin]`` entries; tokens are kept hashed."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from samem.errors import InputError
from samem.service.errors import Unauthenticated

SCHEME = "bearer"


@dataclass(frozen=True)
class User:
    """An authenticated caller."""

    name: str
    admin: bool = False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Authenticator:
    """Looks up the user of a bearer token."""

    def __init__(self, tokens: dict[str, User]) -> None:
        self._users = {_digest(token): user for token, user in tokens.items()}

    @classmethod
    def load(cls, tokens_file: str | os.PathLike[str] | None = None, entries: str = "") -> Authenticator:
        """From a JSON file ``{token: {"user": name, "admin": bool}}`` and ``token=user[:admin],...`` entries."""
        tokens: dict[str, User] = {}
        if tokens_file is not None:
            path = Path(tokens_file)
            try:
                data = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as e:
                raise InputError(f"tokens file {str(path)!r} is unreadable or not JSON: {e}") from e
            if not isinstance(data, dict):
                raise InputError(f"tokens file {str(path)!r} must map tokens to {{'user': ..., 'admin': ...}}")
            for token, info in data.items():
                if not isinstance(info, dict) or not str(info.get("user", "")).strip():
                    raise InputError(f"tokens file {str(path)!r}: an entry has no 'user'")
                tokens[token] = User(str(info["user"]), bool(info.get("admin", False)))
        for entry in filter(None, (e.strip() for e in entries.split(","))):
            token, _, who = entry.partition("=")
            name, _, role = who.partition(":")
            if not token or not name or role not in ("", "admin"):
                raise InputError(f"token entry {entry!r} must look like TOKEN=USER or TOKEN=USER:admin")
            tokens[token] = User(name, role == "admin")
        if any(len(t) < 8 for t in tokens):
            raise InputError("tokens must be at least 8 characters long")
        return cls(tokens)

    def __len__(self) -> int:
        return len(self._users)

    def user(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> User:
        """The user of the ``authorization: Bearer TOKEN`` metadata, or :class:`Unauthenticated`."""
        values = [v for k, v in metadata or () if k.lower() == "authorization"]
        if not values:
            raise Unauthenticated("no credentials: send 'authorization: Bearer <token>' metadata")
        value = values[0].decode(errors="replace") if isinstance(values[0], bytes) else values[0]
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != SCHEME or not token.strip():
            raise Unauthenticated("malformed credentials: expected 'authorization: Bearer <token>'")
        user = self._users.get(_digest(token.strip()))
        if user is None:
            raise Unauthenticated("invalid token")
        return user
