"""``TritonBackend``: the engine's :class:`~samem.engine.backend.Backend` with the steps run by Triton over gRPC.

The per-video state stays in the engine; each call sends one step's tensors and returns its outputs. With
``shared_memory=True`` (same host only) tensors go through two system shared-memory regions registered with the
server (one for inputs, one for outputs, grown on demand) instead of the gRPC messages. One backend serves one
thread at a time (its regions are reused from call to call); give each concurrent video its own backend.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from itertools import count
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import torch
from torch import Tensor

from samem.engine.settings import ModelSettings
from samem.engine.steps import FrameFeatures, MemoryInputs, StepOutput
from samem.errors import InputError
from samem.serving.server import TritonError
from samem.serving.spec import (
    ALL_STEPS,
    DTYPES,
    FUSED_STEPS,
    MODEL_KEY,
    STEPS,
    VARIANT_KEY,
    ServedModel,
    model_name,
    step_tensors,
)

SCHEME = "triton"
_ALIGN = 64
_TRUE = ("1", "true", "yes", "on")
_regions = count()
_FEATURES = ("image_embed", "high_res_0", "high_res_1")
_HEADS = ("low_res_logits", "object_score_logits", "obj_ptr", "iou")


@dataclasses.dataclass
class Traffic:
    """Tensor bytes sent and received, and how many of them crossed the gRPC connection (0 with shared memory)."""

    requests: int = 0
    sent: int = 0
    received: int = 0
    wire: int = 0

    def reset(self) -> None:
        """Zero every counter."""
        self.requests = self.sent = self.received = self.wire = 0


def parse_backend_url(url: str) -> tuple[str, bool]:
    """``triton://HOST:PORT[?shared_memory=1]`` -> (``HOST:PORT``, shared memory)."""
    parts = urlsplit(url)
    if parts.scheme != SCHEME or not parts.hostname or parts.port is None or parts.path not in ("", "/"):
        raise InputError(f"backend {url!r} is not of the form triton://HOST:PORT (e.g. triton://127.0.0.1:8001)")
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {"shared_memory"})
    if unknown:
        raise InputError(f"backend {url!r}: unknown option(s) {unknown}; the only option is shared_memory=1")
    shared = query.get("shared_memory", ["0"])[-1].lower() in _TRUE
    return f"{parts.hostname}:{parts.port}", shared


class _Region:
    """One registered system shared-memory region, grown (re-created) when a call needs more."""

    def __init__(self, client: Any, role: str) -> None:
        self._client, self._role = client, role
        self._handle: Any = None
        self.size = 0
        self.name = ""

    def ensure(self, size: int) -> None:
        import tritonclient.utils.shared_memory as shm

        if size <= self.size:
            return
        self.close()
        size = max(size, 2 * self.size)
        self.name = f"samem_{os.getpid()}_{next(_regions)}_{self._role}"
        self._handle = shm.create_shared_memory_region(self.name, f"/{self.name}", size)  # names are unique per process
        self._client.register_system_shared_memory(self.name, f"/{self.name}", size)
        self.size = size

    def write(self, arrays: list[np.ndarray], offsets: list[int]) -> None:
        import tritonclient.utils.shared_memory as shm

        for array, offset in zip(arrays, offsets, strict=True):
            shm.set_shared_memory_region(self._handle, [array], offset=offset)

    def read(self, dtype: np.dtype, shape: tuple[int, ...], offset: int) -> np.ndarray:
        import tritonclient.utils.shared_memory as shm

        return np.array(shm.get_contents_as_numpy(self._handle, dtype, shape, offset=offset), copy=True)

    def close(self) -> None:
        import tritonclient.utils.shared_memory as shm

        if self._handle is None:
            return
        with contextlib.suppress(Exception):  # the server may be gone already
            self._client.unregister_system_shared_memory(self.name)
        shm.destroy_shared_memory_region(self._handle)
        self._handle, self.size = None, 0


def _layout(nbytes: list[int]) -> tuple[list[int], int]:
    """Offsets of consecutive, aligned blocks and the total size."""
    offsets, end = [], 0
    for size in nbytes:
        offsets.append(end)
        end += -(-size // _ALIGN) * _ALIGN
    return offsets, max(end, _ALIGN)


def _to_wire(value: Tensor | np.ndarray, data_type: str) -> np.ndarray:
    """A step input as the contiguous numpy array whose bytes go on the wire (bfloat16: its bits as int16)."""
    wire = DTYPES[data_type].wire
    if isinstance(value, np.ndarray):
        return np.ascontiguousarray(value, dtype=wire)
    tensor = value.detach().cpu()
    if data_type == "TYPE_BF16":
        return tensor.to(torch.bfloat16).contiguous().view(torch.int16).numpy()
    return np.ascontiguousarray(tensor.float().numpy() if data_type == "TYPE_FP32" else tensor.numpy(), dtype=wire)


def _from_wire(array: np.ndarray, data_type: str) -> Tensor:
    """A step output's wire array (a copy the caller owns) as a tensor: float32, int32, bool or bfloat16."""
    tensor = torch.from_numpy(array)
    return tensor.view(torch.bfloat16) if data_type == "TYPE_BF16" else tensor


def request_input(name: str, array: np.ndarray, triton_type: str) -> Any:
    """A gRPC request input of config data type ``triton_type`` holding ``array`` (see :func:`_to_wire`)."""
    import tritonclient.grpc as grpcclient

    data_type = DTYPES[triton_type]
    if array.dtype != data_type.wire:
        raise ValueError(f"input {name!r} of type {triton_type} travels as {data_type.wire}, got {array.dtype}")
    item = grpcclient.InferInput(name, list(array.shape), data_type.request)
    if data_type.request == "BF16":  # tritonclient would convert float32 element by element in Python; send the bits
        item._raw_content = np.ascontiguousarray(array).tobytes()
    else:
        item.set_data_from_numpy(array)
    return item


def _raw_output(result: Any, name: str, dtype: np.dtype) -> np.ndarray | None:
    """Output ``name`` of a gRPC result as a writable flat array, read straight from the response's bytes.

    (tritonclient's ``as_numpy`` converts bfloat16 element by element in Python: seconds per frame at 1024 px.)
    """
    response = result.get_response()
    for index, output in enumerate(response.outputs):
        if output.name == name:
            return np.frombuffer(response.raw_output_contents[index], dtype=dtype).copy()
    return None


class TritonBackend:
    """The engine's steps on a Triton server at ``url`` (``HOST:PORT`` of its gRPC endpoint).

    ``shared_memory`` passes tensors through system shared memory (same host); ``fused=False`` sends tracked frames
    as ``encode_frame`` + ``track_frame`` even where the server has the fused ``track_image`` step. A server that
    cannot be reached fails at once; one whose step models are not ready yet (still loading) is waited for up to
    ``ready_timeout`` seconds. ``timeout`` bounds each request.
    """

    def __init__(
        self,
        url: str,
        *,
        shared_memory: bool = False,
        fused: bool = True,
        timeout: float = 300.0,
        ready_timeout: float = 20.0,
    ) -> None:
        import tritonclient.grpc as grpcclient

        self.url, self.shared_memory, self.timeout = url, shared_memory, timeout
        self.traffic = Traffic()
        self._client = grpcclient.InferenceServerClient(url)
        self._lock = threading.Lock()
        try:
            live = self._client.is_server_live()
        except Exception as e:
            raise TritonError(f"cannot reach Triton at {url}: {_reason(e)}; start one with `samem triton`") from e
        if not live:
            raise TritonError(f"Triton at {url} is not live")
        self._wait_for_models(ready_timeout)
        config = self._client.get_model_config(model_name("encode_frame"), as_json=True)["config"]
        self.served = ServedModel.from_json(config["parameters"][MODEL_KEY]["string_value"])
        variant = config["parameters"][VARIANT_KEY]["string_value"]
        tensors = {step: step_tensors(step, self.served, variant) for step in ALL_STEPS}
        self._types = {step: {t.name: t.dtype for group in groups for t in group} for step, groups in tensors.items()}
        # images per fused request: any number in the python variant (windows), one in the ONNX graph
        self._fused_images = next(t.dims[0] for t in tensors["track_image"][0] if t.name == "image")
        self._encode_batch = int(config.get("max_batch_size", 0)) or None  # None: no limit
        # the fused step (python variant): without it, track_image sends encode_frame + track_frame
        self.fused = fused and all(self._ready(model_name(step)) for step in FUSED_STEPS)
        self._pos_enc: Tensor | None = None
        self._regions = (_Region(self._client, "in"), _Region(self._client, "out")) if shared_memory else None

    @classmethod
    def from_url(cls, url: str) -> TritonBackend:
        """Connect to ``triton://HOST:PORT[?shared_memory=1]``."""
        address, shared = parse_backend_url(url)
        return cls(address, shared_memory=shared)

    def _wait_for_models(self, timeout: float) -> None:
        """Return once every step model is ready; poll up to ``timeout`` seconds, then name those that are not."""
        deadline = time.monotonic() + timeout
        while True:
            missing = [model_name(step) for step in STEPS if not self._ready(model_name(step))]
            if not missing:
                return
            if time.monotonic() >= deadline:
                raise TritonError(
                    f"Triton at {self.url}: {', '.join(missing)} not ready after {timeout:g} s; serve a repository"
                    " written by `samem export`"
                )
            time.sleep(0.25)

    def _ready(self, name: str) -> bool:
        try:
            return bool(self._client.is_model_ready(name))
        except Exception:
            return False

    @property
    def settings(self) -> ModelSettings:
        """The served model's settings (from its config)."""
        return self.served.settings

    def close(self) -> None:
        """Release the shared-memory regions and the connection."""
        if self._regions is not None:
            for region in self._regions:
                region.close()
        self._client.close()

    def __enter__(self) -> TritonBackend:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # ----- one request -----

    def _infer(
        self, step: str, inputs: dict[str, Tensor | np.ndarray], outputs: dict[str, tuple[int, ...]]
    ) -> dict[str, Tensor]:
        """Send ``inputs``; return ``outputs`` (name -> expected shape) as tensors, each of its served data type."""
        import tritonclient.grpc as grpcclient

        types = self._types[step]
        names = list(inputs)
        arrays = [_to_wire(inputs[n], types[n]) for n in names]
        if self._regions is None:
            infer_inputs = [request_input(n, a, types[n]) for n, a in zip(names, arrays, strict=True)]
        else:  # the data goes through the input region
            infer_inputs = [
                grpcclient.InferInput(n, list(a.shape), DTYPES[types[n]].request)
                for n, a in zip(names, arrays, strict=True)
            ]
        requested = [grpcclient.InferRequestedOutput(n) for n in outputs]
        out_dtypes = [DTYPES[types[n]].wire for n in outputs]
        out_bytes = [int(np.prod(shape)) * d.itemsize for shape, d in zip(outputs.values(), out_dtypes, strict=True)]
        in_bytes = [a.nbytes for a in arrays]
        with self._lock:
            if self._regions is not None:
                region_in, region_out = self._regions
                in_offsets, in_total = _layout(in_bytes)
                out_offsets, out_total = _layout(out_bytes)
                region_in.ensure(in_total)
                region_out.ensure(out_total)
                region_in.write(arrays, in_offsets)
                for infer_input, size, offset in zip(infer_inputs, in_bytes, in_offsets, strict=True):
                    infer_input.set_shared_memory(region_in.name, size, offset=offset)
                for output, size, offset in zip(requested, out_bytes, out_offsets, strict=True):
                    output.set_shared_memory(region_out.name, size, offset=offset)
            try:
                result = self._client.infer(
                    model_name(step), infer_inputs, outputs=requested, client_timeout=self.timeout
                )
            except Exception as e:
                raise TritonError(f"Triton {model_name(step)} at {self.url} failed: {_reason(e)}") from e
            arrays_out = {}
            offsets = _layout(out_bytes)[0]
            for (name, shape), dtype, offset in zip(outputs.items(), out_dtypes, offsets, strict=True):
                if self._regions is None:
                    array = _raw_output(result, name, dtype)
                    got = None if array is None else tuple(result.get_output(name).shape)
                else:
                    array = self._regions[1].read(dtype, shape, offset)
                    got = tuple(array.shape)
                if array is None or got != tuple(shape):
                    raise TritonError(f"Triton {model_name(step)} returned {name} of shape {got}, expected {shape}")
                arrays_out[name] = _from_wire(array.reshape(shape), types[name])
        self.traffic.requests += 1
        self.traffic.sent += sum(in_bytes)
        self.traffic.received += sum(out_bytes)
        if self._regions is None:
            self.traffic.wire += sum(in_bytes) + sum(out_bytes)
        return arrays_out

    def _features(self, features: FrameFeatures, names: tuple[str, ...] = _FEATURES) -> dict[str, Tensor | np.ndarray]:
        if features.high_res_0 is None or features.high_res_1 is None:
            raise InputError("Triton steps need the high-resolution features that encode_frame returns")
        return {name: getattr(features, name) for name in names}

    def _head_shapes(self, batch: int) -> dict[str, tuple[int, ...]]:
        st = self.settings
        low = st.low_res_size
        return {
            "low_res_logits": (batch, 1, low, low),
            "object_score_logits": (batch, 1),
            "obj_ptr": (batch, st.hidden_dim),
            "iou": (batch, 1),
        }

    # ----- the Backend protocol -----

    def encode_frame(self, image: Tensor) -> FrameFeatures:
        """Backbone features of model images [n, 1, S, S] (requests of at most the server's batch size).

        The constant ``pos_enc`` is fetched once.
        """
        limit = self._encode_batch
        if limit is not None and image.shape[0] > limit:
            parts = [self.encode_frame(image[i : i + limit]) for i in range(0, image.shape[0], limit)]
            return FrameFeatures(
                image_embed=torch.cat([p.image_embed for p in parts]),
                high_res_0=torch.cat([p.high_res_0 for p in parts]),  # type: ignore[misc]
                high_res_1=torch.cat([p.high_res_1 for p in parts]),  # type: ignore[misc]
                pos_enc=parts[0].pos_enc[:1].expand(image.shape[0], -1, -1, -1),
            )
        st, (c0, c1) = self.settings, self.served.high_res_channels
        n, h = image.shape[0], st.feature_size
        shapes = {
            "image_embed": (n, st.hidden_dim, h, h),
            "high_res_0": (n, c0, 4 * h, 4 * h),
            "high_res_1": (n, c1, 2 * h, 2 * h),
        }
        if self._pos_enc is None:
            shapes["pos_enc"] = (n, st.hidden_dim, h, h)
        out = self._infer("encode_frame", {"image": image}, shapes)
        if self._pos_enc is None:
            self._pos_enc = out["pos_enc"][:1].clone()
        return FrameFeatures(
            image_embed=out["image_embed"],
            high_res_0=out["high_res_0"],
            high_res_1=out["high_res_1"],
            pos_enc=self._pos_enc.expand(n, -1, -1, -1),
        )

    # The served steps take one image's features ([1, ...]) for B objects. Window mode gives one image per object:
    # its steps are sent once per window (the windows' encodings are still one batch).

    def decode_prompts(self, features: FrameFeatures, point_coords: Tensor, point_labels: Tensor) -> StepOutput:
        """Prompt-decoded outputs on an initial conditioning frame."""
        if features.image_embed.shape[0] > 1:
            return _concat_outputs(
                [self.decode_prompts(features.take([k]), point_coords[k : k + 1], point_labels[k : k + 1])
                 for k in range(point_coords.shape[0])]
            )  # fmt: skip
        inputs = self._features(features)
        inputs["point_coords"] = point_coords
        inputs["point_labels"] = point_labels
        out = self._infer("decode_prompts", inputs, self._head_shapes(point_coords.shape[0]))
        return StepOutput(**out)

    def encode_memory(
        self, features: FrameFeatures, high_res_mask_logits: Tensor, object_score_logits: Tensor, is_mask_from_pts: bool
    ) -> Tensor:
        """Spatial memories [B, Cm, h, w] of masks on a frame."""
        if features.image_embed.shape[0] > 1:
            return torch.cat([
                self.encode_memory(features.take([k]), high_res_mask_logits[k : k + 1],
                                   object_score_logits[k : k + 1], is_mask_from_pts)
                for k in range(high_res_mask_logits.shape[0])
            ])  # fmt: skip
        st = self.settings
        batch = high_res_mask_logits.shape[0]
        inputs = self._features(features, ("image_embed",))
        inputs["high_res_mask_logits"] = high_res_mask_logits
        inputs["object_score_logits"] = object_score_logits
        inputs["is_mask_from_pts"] = np.asarray([is_mask_from_pts], dtype=np.bool_)
        shape = (batch, st.mem_dim, st.feature_size, st.feature_size)
        return self._infer("encode_memory", inputs, {"memory": shape})["memory"]

    def track_frame(
        self, features: FrameFeatures, memory: MemoryInputs, previous_masks: Tensor | None = None
    ) -> StepOutput:
        """Memory-conditioned outputs and new memories on a frame (``previous_masks`` for mask propagation)."""
        if features.image_embed.shape[0] > 1:
            return _concat_outputs([
                self.track_frame(
                    features.take([k]),
                    dataclasses.replace(memory, maskmem=memory.maskmem[k : k + 1], obj_ptrs=memory.obj_ptrs[k : k + 1]),
                    None if previous_masks is None else previous_masks[k : k + 1],
                )
                for k in range(memory.n_objects)
            ])  # fmt: skip
        inputs = self._features(features)
        inputs |= self._memory_inputs(memory, previous_masks)
        return StepOutput(**self._infer("track_frame", inputs, self._tracked_shapes(memory.n_objects)))

    def track_image(self, image: Tensor, memory: MemoryInputs, previous_masks: Tensor | None = None) -> StepOutput:
        """:meth:`track_frame` on model images [n, 1, S, S] (n = 1, or one window per object), in one request.

        The frame's features stay on the server (at 1024 px they are 17 MB each way). Against a repository
        without the fused step, or with windows where the served graph takes one image (ONNX), it sends
        ``encode_frame`` and ``track_frame``.
        """
        if not self.fused or 0 < self._fused_images < image.shape[0]:
            return self.track_frame(self.encode_frame(image), memory, previous_masks)
        inputs = {"image": image} | self._memory_inputs(memory, previous_masks)
        return StepOutput(**self._infer("track_image", inputs, self._tracked_shapes(memory.n_objects)))

    @staticmethod
    def _memory_inputs(memory: MemoryInputs, previous_masks: Tensor | None) -> dict[str, Tensor | np.ndarray]:
        inputs: dict[str, Tensor | np.ndarray] = {
            "maskmem": memory.maskmem,
            "maskmem_tpos": np.asarray(memory.maskmem_tpos, dtype=np.int32),
            "obj_ptrs": memory.obj_ptrs,
            "ptr_offsets": np.asarray(memory.ptr_offsets, dtype=np.int32),
            "max_ptr_offset": np.asarray([memory.max_ptr_offset], dtype=np.int32),
        }
        if previous_masks is not None:
            inputs["previous_masks"] = previous_masks
        return inputs

    def _tracked_shapes(self, batch: int) -> dict[str, tuple[int, ...]]:
        st = self.settings
        return self._head_shapes(batch) | {"memory": (batch, st.mem_dim, st.feature_size, st.feature_size)}


def _concat_outputs(outputs: list[StepOutput]) -> StepOutput:
    """One batch of per-window outputs, in order."""
    memories = [o.memory for o in outputs]
    return StepOutput(
        low_res_logits=torch.cat([o.low_res_logits for o in outputs]),
        object_score_logits=torch.cat([o.object_score_logits for o in outputs]),
        obj_ptr=torch.cat([o.obj_ptr for o in outputs]),
        iou=torch.cat([o.iou for o in outputs]),
        memory=None if any(m is None for m in memories) else torch.cat(memories),  # type: ignore[arg-type]
    )


def _reason(error: Exception) -> str:
    """The first line of an exception's message."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
