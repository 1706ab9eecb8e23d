"""The models a deployment offers per job: names mapped to model specs (``NAME[:CHECKPOINT]``), one the default.

Configured by ``SAMEM_MODELS`` (``name=SPEC,name=SPEC,...``; an entry without ``name=`` is named after its config)
and ``SAMEM_DEFAULT_MODEL`` (empty: the first entry); without ``SAMEM_MODELS`` the catalogue is the single model
``SAMEM_MODEL`` (the shipped ``samem-compact`` by default). The server checks names and spec syntax only; the
checkpoint files are opened where they are used (workers build the model; ListModels hashes what it can read).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from samem.errors import InputError
from samem.model.registry import MODEL_CONFIGS, RANDOM_WEIGHTS, ModelSpec, parse_model_spec, shipped_checkpoint
from samem.service.config import ServiceConfig

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


@dataclass(frozen=True, kw_only=True)
class CatalogueEntry:
    """One offered model: the name jobs ask for and the spec workers build (as ``samem track --model`` takes it)."""

    name: str
    spec: str

    @property
    def config(self) -> str:
        """The architecture: a registered config name or a YAML path."""
        return self.spec.partition(":")[0]

    @property
    def checkpoint(self) -> Path | None:
        """The checkpoint file (the shipped one for a bare shipped name); None for random weights."""
        name, _, checkpoint = self.spec.partition(":")
        if checkpoint == RANDOM_WEIGHTS:
            return None
        return Path(checkpoint) if checkpoint else shipped_checkpoint(name)

    def checkpoint_sha256(self) -> str:
        """SHA-256 of the checkpoint; empty for random weights or a file this process cannot read."""
        path = self.checkpoint
        if path is None:
            return ""
        try:
            stat = path.stat()
        except OSError:
            return ""
        return _sha256(str(path), stat.st_mtime_ns, stat.st_size)

    def description(self) -> str:
        """One line: architecture and weights."""
        name, _, checkpoint = self.spec.partition(":")
        architecture = Path(name).name if name.endswith((".yaml", ".yml")) else name
        if checkpoint == RANDOM_WEIGHTS:
            return f"{architecture}, random weights (for tests)"
        if not checkpoint:
            return f"{architecture}, the weights shipped with samem"
        path = Path(checkpoint)
        where = path.name if path.is_file() else f"{path.name} (not readable by the service)"
        return f"{architecture}, checkpoint {where}"

    def model_spec(self) -> ModelSpec:
        """The parsed :class:`~samem.model.ModelSpec` (checks that the checkpoint exists)."""
        try:
            return parse_model_spec(self.spec)
        except InputError as e:
            raise InputError(f"model {self.name!r} of the catalogue: {e}") from e


@functools.lru_cache(maxsize=64)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    from samem.model.build import file_sha256

    try:
        return file_sha256(Path(path))
    except OSError:
        return ""


class Catalogue:
    """The offered models in configured order, and the default."""

    def __init__(self, entries: list[CatalogueEntry], default: str = "") -> None:
        if not entries:
            raise InputError("the model catalogue is empty: set SAMEM_MODELS=name=SPEC,... or SAMEM_MODEL")
        names = [e.name for e in entries]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InputError(f"the model catalogue names {twice} more than once; give each entry its own name=")
        if default and default not in names:
            raise InputError(f"default model {default!r} is not in the catalogue ({', '.join(names)})")
        self._entries = {e.name: e for e in entries}
        self.default = self._entries[default or names[0]]

    @classmethod
    def from_config(cls, config: ServiceConfig) -> Catalogue:
        """The catalogue of ``config.models`` (or the single ``config.model``), default ``config.default_model``."""
        return cls.parse(config.models or config.model, default=config.default_model)

    @classmethod
    def parse(cls, text: str, *, default: str = "") -> Catalogue:
        """``name=SPEC,...``; an entry that is a bare SPEC is named after its config (``samem-compact``)."""
        entries = []
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, spec = item.partition("=")
            if not sep:
                name, spec = _default_name(item), item
            entries.append(_entry(name.strip(), spec.strip()))
        return cls(entries, default.strip())

    def __iter__(self) -> Iterator[CatalogueEntry]:
        """The default first, then the others in configured order."""
        yield self.default
        yield from (e for e in self._entries.values() if e is not self.default)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        """Entry names, the default first."""
        return [e.name for e in self]

    def entry(self, name: str) -> CatalogueEntry:
        """The entry named ``name`` (empty: the default); unknown names raise InputError listing the offered ones."""
        if not name:
            return self.default
        try:
            return self._entries[name]
        except KeyError:
            offered = ", ".join(f"{n} (default)" if n == self.default.name else n for n in self.names())
            raise InputError(f"unknown model {name!r}: this service offers {offered}") from None


def _default_name(spec: str) -> str:
    config = spec.partition(":")[0]
    return Path(config).stem if config.endswith((".yaml", ".yml")) else config


def _entry(name: str, spec: str) -> CatalogueEntry:
    if not _NAME.fullmatch(name):
        raise InputError(
            f"model catalogue entry {name!r}={spec!r}: names are 1-64 letters, digits, '.', '_', '+' or '-'"
        )
    config = spec.partition(":")[0]
    if not config:
        raise InputError(f"model catalogue entry {name!r} has no spec; expected {name}=NAME[:CHECKPOINT]")
    if config not in MODEL_CONFIGS and not config.endswith((".yaml", ".yml")):
        raise InputError(
            f"model catalogue entry {name!r}: unknown model {config!r}; known models: {', '.join(MODEL_CONFIGS)}, "
            "or a .yaml config path"
        )
    return CatalogueEntry(name=name, spec=spec)
