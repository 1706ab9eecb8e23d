"""Generate the gRPC code of ``proto/samem/v1/*.proto`` into :mod:`samem.service.api` (a development tool).

The generated modules are committed; ``make proto`` (``python -m samem.service.codegen``) rewrites them after a
.proto change, and a test checks that the committed files equal a fresh generation. protoc names modules after
the .proto paths (``samem.v1``); the imports between generated modules are rewritten to ``samem.service.api``.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parents[3] / "proto"
PROTO_PACKAGE = "samem/v1"
API_DIR = Path(__file__).resolve().parent / "api"
_IMPORT = re.compile(r"^from samem\.v1 import ", re.MULTILINE)


def proto_files(root: Path = PROTO_ROOT) -> list[Path]:
    """The .proto files of the API, sorted."""
    return sorted((root / PROTO_PACKAGE).glob("*.proto"))


def generate(root: Path = PROTO_ROOT) -> dict[str, str]:
    """Run protoc (grpcio-tools) on every .proto under ``root``; return {file name: generated text}."""
    from grpc_tools import protoc

    files = proto_files(root)
    if not files:
        raise FileNotFoundError(f"no .proto files in {root / PROTO_PACKAGE}")
    with tempfile.TemporaryDirectory(prefix="samem-protoc-") as scratch:
        include = str(Path(protoc.__file__).parent / "_proto")
        args = [
            "protoc",
            f"-I{root}",
            f"-I{include}",
            f"--python_out={scratch}",
            f"--pyi_out={scratch}",
            f"--grpc_python_out={scratch}",
            *(str(f.relative_to(root)) for f in files),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {[f.name for f in files]}")
        out = Path(scratch) / PROTO_PACKAGE
        return {p.name: _IMPORT.sub("from samem.service.api import ", p.read_text()) for p in sorted(out.iterdir())}


def write(generated: dict[str, str], directory: Path = API_DIR) -> None:
    """Replace the generated modules in ``directory`` (``__init__.py`` is kept)."""
    for old in directory.glob("*_pb2*"):
        old.unlink()
    for name, text in generated.items():
        (directory / name).write_text(text)


def main() -> int:
    """Regenerate :mod:`samem.service.api`."""
    generated = generate()
    write(generated)
    print(f"wrote {', '.join(sorted(generated))} to {API_DIR}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
