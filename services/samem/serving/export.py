"""ONNX graphs of the engine's steps, with real-valued RoPE, and their parity check against PyTorch.

Each graph wraps :mod:`samem.engine.steps` on a :func:`~samem.model.rope.real_rope_model` copy of the model and
has exactly the inputs and outputs of :func:`samem.serving.spec.step_tensors`. Two steps take Python values in the
engine that become tensors here: ``track_frame``'s temporal positions and pointer offsets (gathered and encoded
in the graph), and ``encode_memory``'s ``is_mask_from_pts`` (both mask encodings computed, one selected).
The ONNX ``decode_prompts`` graph decodes with and without multimask output and picks per request by the number
of prompt points, as upstream's rule does in Python (a single click: the best of three candidate masks).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from samem.engine import steps
from samem.engine.steps import FrameFeatures
from samem.errors import SamemError
from samem.model.rope import real_rope_model
from samem.serving.spec import ALL_STEPS
from samem.serving.step_runner import constant_pos_enc

log = logging.getLogger(__name__)

OPSET = 18
#: largest :func:`graph_difference` accepted when writing a repository (measured on the compact model in float32:
#: at most 1e-5 over the layouts of tests/test_serving_export.py, on an AMD EPYC and on an Intel Xeon with AMX)
PARITY_TOLERANCE = 1e-4
_EXTERNAL_DATA_BYTES = 1_800_000_000  # weights above this go to an external data file (protobuf's 2 GB limit)


class EncodeFrameGraph(nn.Module):
    """Grey model images [n, 1, S, S] -> image_embed, high_res_0, high_res_1, pos_enc."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Run the image encoder."""
        out = steps.encode_frame(self.model, image)
        return out.image_embed, out.high_res_0, out.high_res_1, out.pos_enc


class _WithPosEnc(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("pos_enc", constant_pos_enc(model), persistent=False)

    def features(self, image_embed: Tensor, high_res_0: Tensor | None, high_res_1: Tensor | None) -> FrameFeatures:
        return FrameFeatures(
            image_embed=image_embed, high_res_0=high_res_0, high_res_1=high_res_1, pos_enc=self.pos_enc
        )


class DecodePromptsGraph(_WithPosEnc):
    """Features, point_coords [B, P, 2], point_labels [B, P] -> low_res_logits, object_score_logits, obj_ptr, iou."""

    def forward(
        self, image_embed: Tensor, high_res_0: Tensor, high_res_1: Tensor, point_coords: Tensor, point_labels: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Decode prompts on an initial conditioning frame."""
        features = self.features(image_embed, high_res_0, high_res_1)
        model = self.model
        n_points = torch.ones_like(point_labels[0]).sum()  # P as a tensor: no branch on a dynamic shape
        use_multimask = (n_points >= model.multimask_min_pt_num) & (n_points <= model.multimask_max_pt_num)
        use_multimask = use_multimask & bool(model.multimask_output_in_sam)
        outputs = []
        for multimask in (True, False):
            out = steps.decode_prompts(model, features, point_coords, point_labels, multimask=multimask)
            outputs.append((out.low_res_logits, out.object_score_logits, out.obj_ptr, out.iou))
        multi, single = outputs
        return tuple(torch.where(use_multimask, a, b) for a, b in zip(multi, single, strict=True))


class EncodeMemoryGraph(_WithPosEnc):
    """image_embed, high_res_mask_logits [B, 1, S, S], object_score_logits [B, 1], is_mask_from_pts [1] -> memory."""

    def forward(
        self, image_embed: Tensor, high_res_mask_logits: Tensor, object_score_logits: Tensor, is_mask_from_pts: Tensor
    ) -> Tensor:
        """Encode masks into spatial memories."""
        features = self.features(image_embed, None, None)
        from_pts = steps.encode_memory(self.model, features, high_res_mask_logits, object_score_logits, True)
        other = steps.encode_memory(self.model, features, high_res_mask_logits, object_score_logits, False)
        return torch.where(is_mask_from_pts.reshape(1, 1, 1, 1), from_pts, other)


class TrackFrameGraph(_WithPosEnc):
    """Features and raw memory (positions and offsets as int32 tensors) -> heads and the new memory."""

    def forward(
        self,
        image_embed: Tensor,
        high_res_0: Tensor,
        high_res_1: Tensor,
        maskmem: Tensor,
        maskmem_tpos: Tensor,
        obj_ptrs: Tensor,
        ptr_offsets: Tensor,
        max_ptr_offset: Tensor,
        previous_masks: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Track objects from their memory (the tensor form of :func:`samem.engine.steps.track_frame`)."""
        model = self.model
        batch, n_mem, mem_dim, height, width = maskmem.shape
        feats = maskmem.float().permute(1, 3, 4, 0, 2).reshape(n_mem * height * width, batch, mem_dim)
        spatial = model.memory_encoder.position_encoding(feats.new_zeros(1, mem_dim, height, width))
        spatial = spatial.flatten(2).permute(2, 0, 1)  # [h*w, 1, Cm]
        tpos = model.maskmem_tpos_enc[model.num_maskmem - 1 - maskmem_tpos.long()]  # [N, 1, 1, Cm]
        spatial_pos = (spatial.unsqueeze(0) + tpos).reshape(n_mem * height * width, 1, mem_dim).expand(-1, batch, -1)
        n_ptr, channels = obj_ptrs.shape[1], obj_ptrs.shape[2]
        ptrs = obj_ptrs.float().permute(1, 0, 2)
        if model.add_tpos_enc_to_obj_ptrs:
            offsets = ptr_offsets.float() / max_ptr_offset.float()
            tpos_dim = channels if model.proj_tpos_enc_in_obj_ptrs else mem_dim
            ptr_pos = model.obj_ptr_tpos_proj(steps.get_1d_sine_pe(offsets, dim=tpos_dim))
            ptr_pos = ptr_pos.unsqueeze(1).expand(-1, batch, mem_dim)
        else:
            ptr_pos = ptrs.new_zeros(n_ptr, batch, mem_dim)
        if mem_dim < channels:
            split = channels // mem_dim
            ptrs = ptrs.reshape(n_ptr, batch, split, mem_dim).permute(0, 2, 1, 3).reshape(n_ptr * split, batch, mem_dim)
            ptr_pos = ptr_pos.repeat_interleave(split, dim=0)
        features = self.features(image_embed, high_res_0, high_res_1)
        memory = torch.cat((feats, ptrs), dim=0)
        memory_pos = torch.cat((spatial_pos, ptr_pos), dim=0)
        pix = steps._attend(model, features, memory, memory_pos, ptrs.shape[0])
        refinements = steps.PROMPT_REFINEMENTS if previous_masks is not None else 0
        out = steps.tracked_heads(model, pix, features, previous_masks, refinements=refinements)
        return out.low_res_logits, out.object_score_logits, out.obj_ptr, out.iou, out.memory


class TrackImageGraph(TrackFrameGraph):
    """One model image [1, 1, S, S] and raw memory -> heads and the new memory: encoding and tracking in one graph.

    The fused step of a tracked frame (:data:`samem.serving.spec.FUSED_STEPS`): the frame's features never leave
    the server. One image only; window mode (one image per object) sends ``encode_frame`` + ``track_frame``.
    """

    def forward(  # type: ignore[override]
        self,
        image: Tensor,
        maskmem: Tensor,
        maskmem_tpos: Tensor,
        obj_ptrs: Tensor,
        ptr_offsets: Tensor,
        max_ptr_offset: Tensor,
        previous_masks: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Encode the image, then track the objects from their memory."""
        f = steps.encode_frame(self.model, image)
        memory = (maskmem, maskmem_tpos, obj_ptrs, ptr_offsets, max_ptr_offset)
        return super().forward(f.image_embed, f.high_res_0, f.high_res_1, *memory, previous_masks)


def _example(model: nn.Module, step: str) -> tuple[tuple[Tensor, ...], dict[str, dict[int, object]]]:
    """Example inputs (realistic values from the PyTorch steps) and the dynamic dims of a step's graph."""
    size = int(model.image_size)
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        features = steps.encode_frame(model, torch.rand(1, 1, size, size, generator=generator))
    f = (features.image_embed.clone(), features.high_res_0.clone(), features.high_res_1.clone())
    objects, points = torch.export.Dim("objects", min=1), torch.export.Dim("points", min=1)
    if step == "encode_frame":
        image = torch.rand(2, 1, size, size, generator=generator)
        return (image,), {"image": {0: torch.export.Dim("frames", min=1)}}
    if step == "decode_prompts":
        coords = torch.rand(2, 3, 2, generator=generator) * size
        labels = torch.tensor([[2, 3, 1], [2, 3, 0]], dtype=torch.int32)
        dims = {"point_coords": {0: objects, 1: points}, "point_labels": {0: objects, 1: points}}
        return (*f, coords, labels), {"image_embed": None, "high_res_0": None, "high_res_1": None, **dims}
    if step == "encode_memory":
        logits = torch.randn(2, 1, size, size, generator=generator) * 4
        scores = torch.tensor([[1.0], [-1.0]])
        dims = {"high_res_mask_logits": {0: objects}, "object_score_logits": {0: objects}, "is_mask_from_pts": None}
        return (f[0], logits, scores, torch.tensor([True])), {"image_embed": None, **dims}
    mem_dim, channels, h = int(model.mem_dim), int(model.hidden_dim), f[0].shape[-1]
    memories, pointers = torch.export.Dim("memories", min=1), torch.export.Dim("pointers", min=1)
    maskmem = torch.randn(2, 3, mem_dim, h, h, generator=generator)
    obj_ptrs = torch.randn(2, 4, channels, generator=generator)
    tpos = torch.tensor([0, 6, 5], dtype=torch.int32)
    offsets = torch.tensor([3, 1, 2, 3], dtype=torch.int32)
    dims = {
        "maskmem": {0: objects, 1: memories},
        "maskmem_tpos": {0: memories},
        "obj_ptrs": {0: objects, 1: pointers},
        "ptr_offsets": {0: pointers},
        "max_ptr_offset": None,
    }
    inputs = (maskmem, tpos, obj_ptrs, offsets, torch.tensor([15], dtype=torch.int32))
    if getattr(model, "mask_propagation", False):
        low = size // 4
        inputs += ((torch.rand(2, 1, low, low, generator=generator) > 0.5).float(),)
        dims["previous_masks"] = {0: objects}
    if step == "track_image":
        return (torch.rand(1, 1, size, size, generator=generator), *inputs), {"image": None, **dims}
    return (*f, *inputs), {"image_embed": None, "high_res_0": None, "high_res_1": None, **dims}


_GRAPHS = {
    "encode_frame": EncodeFrameGraph,
    "decode_prompts": DecodePromptsGraph,
    "encode_memory": EncodeMemoryGraph,
    "track_frame": TrackFrameGraph,
    "track_image": TrackImageGraph,
}
_OUTPUTS = {
    "encode_frame": ("image_embed", "high_res_0", "high_res_1", "pos_enc"),
    "decode_prompts": ("low_res_logits", "object_score_logits", "obj_ptr", "iou"),
    "encode_memory": ("memory",),
    "track_frame": ("low_res_logits", "object_score_logits", "obj_ptr", "iou", "memory"),
    "track_image": ("low_res_logits", "object_score_logits", "obj_ptr", "iou", "memory"),
}


def export_step(model: nn.Module, step: str, path: Path) -> tuple[tuple[Tensor, ...], tuple[np.ndarray, ...]]:
    """Export one step's graph to ``path``; return the example inputs and the PyTorch outputs on them."""
    graph = _GRAPHS[step](real_rope_model(model)).eval()
    inputs, dynamic = _example(model, step)
    with torch.inference_mode():
        expected = graph(*inputs)
    expected = expected if isinstance(expected, tuple) else (expected,)
    big = sum(p.numel() * p.element_size() for p in model.parameters()) > _EXTERNAL_DATA_BYTES
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)  # "torchvision is not installed": samem's graphs use no torchvision ops
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                graph,
                inputs,
                str(path),
                input_names=list(dynamic),
                output_names=list(_OUTPUTS[step]),
                dynamic_shapes=dynamic,
                opset_version=OPSET,
                dynamo=True,
                external_data=big,
                verbose=False,
            )
    finally:
        registration.setLevel(level)
    return inputs, tuple(e.detach().numpy() for e in expected)


def onnx_outputs(path: Path, inputs: tuple[Tensor, ...]) -> list[np.ndarray]:
    """Run an exported graph with onnxruntime on the CPU."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, {n: t.numpy() for n, t in zip(names, inputs, strict=True)})


def graph_difference(got: Sequence[np.ndarray], expected: Sequence[np.ndarray]) -> float:
    """Largest max|ONNX - PyTorch| / (1 + max|PyTorch|) over a graph's outputs: each error on its output's scale.

    Per element, an output whose values are sums of large terms (object scores of +-70 from random weights)
    rounds a value near 1 differently on another CPU's kernels (2.7e-4 of it on an Intel Xeon with AMX, 8e-6
    of the output's scale).
    """
    if [np.shape(g) for g in got] != [np.shape(e) for e in expected]:
        raise ValueError(f"output shapes differ: {[np.shape(g) for g in got]} vs {[np.shape(e) for e in expected]}")
    return max(
        float(np.abs(g - e).max() / (1 + np.abs(e).max())) if np.size(e) else 0.0
        for g, e in zip(got, expected, strict=True)
    )


def export_steps(model: nn.Module, paths: dict[str, Path], *, max_batch_size: int = 4) -> dict[str, float]:
    """Export every step to ``paths[step]`` and check each graph against PyTorch (real-valued RoPE included).

    Returns :func:`graph_difference` per step on the example inputs; raises if one exceeds
    :data:`PARITY_TOLERANCE`. ``max_batch_size`` is accepted for symmetry with the configs (batch dims are dynamic).
    """
    del max_batch_size
    diffs = {}
    for step in ALL_STEPS:
        inputs, expected = export_step(model, step, paths[step])
        got = onnx_outputs(paths[step], inputs)
        diffs[step] = graph_difference(got, expected)
        log.info("%s: max |ONNX - PyTorch| / (1 + max |PyTorch|) %.2g", step, diffs[step])
        if diffs[step] > PARITY_TOLERANCE:
            raise SamemError(
                f"the exported {step} graph differs from PyTorch by {diffs[step]:.3g} (> {PARITY_TOLERANCE}); not"
                " writing a repository that computes something else"
            )
    return diffs
