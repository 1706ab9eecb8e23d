"""The typed source of every Triton model samem serves: tensors, variants and their ``config.pbtxt`` text.

One :class:`ServedModel` (which checkpoint, at which size, with which engine settings) and one variant (``python``:
PyTorch inside Triton's python backend on CPUs; ``onnx``: exported graphs on onnxruntime/TensorRT on GPUs) give
the step models' :class:`ModelConfig`; :meth:`ModelConfig.to_pbtxt` renders Triton's protobuf text. Nothing
else writes a ``config.pbtxt``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from samem.engine.settings import ModelSettings
from samem.errors import InputError

Variant = Literal["python", "onnx"]
VARIANTS: tuple[Variant, ...] = ("python", "onnx")
STEPS = ("encode_frame", "decode_prompts", "encode_memory", "track_frame")
#: encode + track in one request, so that a tracked frame's features never leave the server (clients fall back to
#: ``encode_frame`` + ``track_frame`` where a repository lacks it, e.g. one written before it existed)
FUSED_STEPS = ("track_image",)
ALL_STEPS = STEPS + FUSED_STEPS
MODEL_PREFIX = "samem_"
#: parameter keys every step model's config carries
STEP_KEY, MODEL_KEY, VARIANT_KEY = "samem_step", "samem_model", "samem_variant"


@dataclass(frozen=True)
class DataType:
    """A Triton data type as each side sees it: the request's name, the torch dtype, the numpy dtype on the wire."""

    request: str
    torch: torch.dtype
    wire: np.dtype  # bfloat16 travels as its int16 bits (numpy has no bfloat16)


#: the Triton data types the steps use, by config name (bfloat16: spatial memories in the python variant, as the
#: engine keeps them; Triton's onnxruntime backend has no TYPE_BF16, triton-inference-server/server#8464, so ONNX
#: graphs take float32)
DTYPES: dict[str, DataType] = {
    "TYPE_FP32": DataType("FP32", torch.float32, np.dtype(np.float32)),
    "TYPE_BF16": DataType("BF16", torch.bfloat16, np.dtype(np.int16)),
    "TYPE_INT32": DataType("INT32", torch.int32, np.dtype(np.int32)),
    "TYPE_BOOL": DataType("BOOL", torch.bool, np.dtype(np.bool_)),
}


def model_name(step: str) -> str:
    """Triton model name of a step."""
    if step not in ALL_STEPS:
        raise InputError(f"unknown step {step!r}; steps: {', '.join(ALL_STEPS)}")
    return MODEL_PREFIX + step


@dataclass(frozen=True, kw_only=True)
class ServedModel:
    """The model behind a repository; recorded (as JSON) in every step model's config parameters.

    ``spec`` is the ``NAME:CHECKPOINT`` string the server builds the model from (an absolute checkpoint path, or
    ``random``); ``checkpoint_sha256`` is checked when the server loads it. ``high_res_channels`` are the channels
    of the decoder's two finer feature levels; ``device`` is where the python variant runs PyTorch, and
    ``precision`` (``fp32`` or ``bf16`` autocast, as :class:`samem.engine.LocalBackend`) how.
    """

    spec: str
    checkpoint_sha256: str | None
    settings: ModelSettings
    high_res_channels: tuple[int, int]
    seed: int = 0
    device: str = "cpu"
    precision: str = "fp32"

    def to_json(self) -> str:
        """Compact JSON (one line)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ServedModel:
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        data["settings"] = ModelSettings(**data["settings"])
        data["high_res_channels"] = tuple(data["high_res_channels"])
        return cls(**data)


@dataclass(frozen=True, kw_only=True)
class TensorSpec:
    """One input or output: name, Triton data type and dims (-1 = any size; without the batch dim if batched)."""

    name: str
    dtype: str
    dims: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"tensor {self.name!r}: unsupported data type {self.dtype!r}")


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """The fields of a Triton ``config.pbtxt`` that samem sets."""

    name: str
    backend: str
    max_batch_size: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    instance_kind: Literal["KIND_CPU", "KIND_GPU"]
    instance_count: int = 1
    dynamic_batching_delay_us: int | None = None  # None: no dynamic batching
    preferred_batch_sizes: tuple[int, ...] = ()
    fp16_tensorrt: bool = False  # onnxruntime with the TensorRT accelerator in fp16
    default_model_filename: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)

    def to_pbtxt(self) -> str:
        """Triton's protobuf text format of this config."""
        lines = [f"name: {_quote(self.name)}", f"backend: {_quote(self.backend)}"]
        lines.append(f"max_batch_size: {self.max_batch_size}")
        if self.default_model_filename:
            lines.append(f"default_model_filename: {_quote(self.default_model_filename)}")
        lines.append("version_policy: { latest: { num_versions: 1 } }")
        for key, tensors in (("input", self.inputs), ("output", self.outputs)):
            for t in tensors:
                dims = ", ".join(str(d) for d in t.dims)
                lines.append(f"{key} {{ name: {_quote(t.name)} data_type: {t.dtype} dims: [ {dims} ] }}")
        lines.append(f"instance_group [ {{ kind: {self.instance_kind} count: {self.instance_count} }} ]")
        if self.dynamic_batching_delay_us is not None:
            sizes = ", ".join(str(s) for s in self.preferred_batch_sizes)
            preferred = f"preferred_batch_size: [ {sizes} ] " if sizes else ""
            lines.append(
                f"dynamic_batching {{ {preferred}max_queue_delay_microseconds: {self.dynamic_batching_delay_us} }}"
            )
        if self.fp16_tensorrt:
            lines.append(
                'optimization { execution_accelerators { gpu_execution_accelerator: [ { name: "tensorrt"'
                ' parameters { key: "precision_mode" value: "FP16" } } ] } }'
            )
        for key, value in sorted(self.parameters.items()):
            lines.append(f"parameters {{ key: {_quote(key)} value: {{ string_value: {_quote(value)} }} }}")
        return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    """A protobuf text-format string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _fp32(name: str, *dims: int) -> TensorSpec:
    return TensorSpec(name=name, dtype="TYPE_FP32", dims=dims)


def _int32(name: str, *dims: int) -> TensorSpec:
    return TensorSpec(name=name, dtype="TYPE_INT32", dims=dims)


def step_tensors(
    step: str, served: ServedModel, variant: Variant
) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Inputs and outputs of a step, shapes as in :mod:`samem.engine.steps` (-1 for objects, memories, points).

    ``encode_frame`` is batched over frames (its dims exclude the batch); the others take one frame's features
    ([1, ...]) and B objects; ``track_frame`` of models with mask propagation also takes ``previous_masks``.
    ``track_image`` takes ``track_frame``'s inputs with model images [n, 1, S, S] instead of features (n = 1, or one
    window per object; the ONNX graph takes n = 1) and returns its outputs.
    ``pos_enc`` is a constant of the image size, so only ``encode_frame`` returns it
    (clients ask for it once) and the other steps compute it themselves. Spatial memories (``maskmem`` in,
    ``memory`` out) are bfloat16 in the python variant, bit for bit what the engine's state keeps (half the bytes
    of float32), and float32 in the ONNX graphs.
    """
    if variant not in VARIANTS:
        raise InputError(f"unknown variant {variant!r}; variants: {', '.join(VARIANTS)}")
    st = served.settings
    size, c, h, cm, low = st.image_size, st.hidden_dim, st.feature_size, st.mem_dim, st.low_res_size
    c0, c1 = served.high_res_channels
    features = (_fp32("image_embed", 1, c, h, h), _fp32("high_res_0", 1, c0, 4 * h, 4 * h))
    features += (_fp32("high_res_1", 1, c1, 2 * h, 2 * h),)
    heads = (_fp32("low_res_logits", -1, 1, low, low), _fp32("object_score_logits", -1, 1))
    heads += (_fp32("obj_ptr", -1, c), _fp32("iou", -1, 1))
    memory_type = "TYPE_BF16" if variant == "python" else "TYPE_FP32"
    new_memory = TensorSpec(name="memory", dtype=memory_type, dims=(-1, cm, h, h))
    if step == "encode_frame":
        inputs = (_fp32("image", 1, size, size),)
        outputs = (*(_fp32(t.name, *t.dims[1:]) for t in features), _fp32("pos_enc", c, h, h))
        return inputs, outputs
    if step == "decode_prompts":
        return (*features, _fp32("point_coords", -1, -1, 2), _int32("point_labels", -1, -1)), heads
    if step == "encode_memory":
        inputs = (features[0], _fp32("high_res_mask_logits", -1, 1, size, size), _fp32("object_score_logits", -1, 1))
        inputs += (TensorSpec(name="is_mask_from_pts", dtype="TYPE_BOOL", dims=(1,)),)
        return inputs, (new_memory,)
    memory = (TensorSpec(name="maskmem", dtype=memory_type, dims=(-1, -1, cm, h, h)), _int32("maskmem_tpos", -1))
    memory += (_fp32("obj_ptrs", -1, -1, c),)
    memory += (_int32("ptr_offsets", -1), _int32("max_ptr_offset", 1))
    if st.mask_propagation:
        memory += (_fp32("previous_masks", -1, 1, low, low),)
    if step == "track_frame":
        return (*features, *memory), (*heads, new_memory)
    if step == "track_image":
        images = -1 if variant == "python" else 1
        return (_fp32("image", images, 1, size, size), *memory), (*heads, new_memory)
    raise InputError(f"unknown step {step!r}; steps: {', '.join(ALL_STEPS)}")


def step_config(
    step: str, served: ServedModel, variant: Variant, *, max_batch_size: int = 4, instances: int = 1
) -> ModelConfig:
    """The Triton config of one step in one variant.

    ``python``: KIND_CPU instances of the python backend (PyTorch inside). ``onnx``: KIND_GPU instances of
    onnxruntime; the image encoder additionally through TensorRT in fp16. In both, frame encoding is dynamically
    batched across requests (videos) up to ``max_batch_size``; ``instances`` model instances per step serve
    requests of several videos at once (each python-backend instance is a process holding its own model copy).
    """
    if max_batch_size < 1:
        raise InputError(f"max batch size must be >= 1, got {max_batch_size}")
    if instances < 1:
        raise InputError(f"instances per model must be >= 1, got {instances}")
    inputs, outputs = step_tensors(step, served, variant)
    batched = step == "encode_frame"
    params = {STEP_KEY: step, MODEL_KEY: served.to_json(), VARIANT_KEY: variant}
    common = {"name": model_name(step), "inputs": inputs, "outputs": outputs, "parameters": params}
    common["instance_count"] = instances
    common["max_batch_size"] = max_batch_size if batched else 0
    if variant == "python":
        return ModelConfig(
            backend="python",
            instance_kind="KIND_CPU",
            dynamic_batching_delay_us=500 if batched else None,
            **common,
        )
    return ModelConfig(
        backend="onnxruntime",
        instance_kind="KIND_GPU",
        dynamic_batching_delay_us=1000 if batched else None,
        preferred_batch_sizes=(max_batch_size,) if batched else (),
        fp16_tensorrt=batched,  # fp16 frame encoding costs no accuracy (bench/bench_precision.py, README)
        default_model_filename="model.onnx",
        **common,
    )
