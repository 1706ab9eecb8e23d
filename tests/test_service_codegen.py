"""The committed gRPC code is what grpcio-tools generates from proto/samem/v1 now."""

from __future__ import annotations

from samem.service import codegen


def test_committed_generated_code_equals_a_fresh_generation_from_the_protos() -> None:
    generated = codegen.generate()
    assert set(generated) == {"tracking_pb2.py", "tracking_pb2.pyi", "tracking_pb2_grpc.py"}
    committed = {name: (codegen.API_DIR / name).read_text() for name in generated}
    stale = sorted(name for name in generated if committed[name] != generated[name])
    assert not stale, f"{stale} differ from the .proto files: run `make proto`"


def test_generated_modules_import_each_other_inside_the_package() -> None:
    from samem.service.api import tracking_pb2, tracking_pb2_grpc

    assert tracking_pb2_grpc.samem_dot_v1_dot_tracking__pb2 is tracking_pb2
    assert tracking_pb2.DESCRIPTOR.name == "samem/v1/tracking.proto"
    assert set(tracking_pb2.DESCRIPTOR.services_by_name) == {"Videos", "Prompts", "Models", "Jobs", "Results", "Live"}
