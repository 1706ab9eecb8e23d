"""A real-valued equivalent of SAM 2's rotary position encoding (RoPE), which ONNX and torch.compile can express.

Upstream's ``RoPEAttention`` rotates query/key channel pairs by multiplying with complex numbers
(``torch.view_as_complex`` / ``torch.polar``); ONNX has no complex type, and TorchInductor generates no code for
complex operators (with dynamic memory counts its compiled attention failed a stride check, torch 2.13). The same
rotation on pairs ``(x0, x1)`` is ``(x0 cos - x1 sin, x0 sin + x1 cos)`` with the cosines and sines of upstream's
angles.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from sam2.modeling.sam.transformer import RoPEAttention
from torch import Tensor, nn


def rotate_pairs(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate channel pairs of ``x`` [B, H, r * L, D] by angles with ``cos``/``sin`` [L, D/2], tiled r times."""
    batch, heads, tokens, dim = x.shape
    length = cos.shape[0]
    pairs = x.float().reshape(batch, heads, tokens // length, length, dim // 2, 2)
    x0, x1 = pairs[..., 0], pairs[..., 1]
    rotated = torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1)
    return rotated.reshape(batch, heads, tokens, dim).type_as(x)


class RealRoPEAttention(RoPEAttention):
    """``RoPEAttention`` with the same projections and angles, computed without complex numbers.

    A subclass, so that upstream's ``isinstance(..., RoPEAttention)`` checks (which route the number of object
    pointer tokens to exclude from rotation) still hold.
    """

    def __init__(self, attention: RoPEAttention) -> None:
        nn.Module.__init__(self)
        self.train(attention.training)
        for name in ("embedding_dim", "kv_in_dim", "internal_dim", "num_heads", "dropout_p", "rope_k_repeat"):
            setattr(self, name, getattr(attention, name))
        self.q_proj, self.k_proj, self.v_proj = attention.q_proj, attention.k_proj, attention.v_proj
        self.out_proj = attention.out_proj
        cis = attention.freqs_cis.cpu()
        device = attention.q_proj.weight.device
        self.register_buffer("cos", cis.real.float().contiguous().to(device), persistent=False)
        self.register_buffer("sin", cis.imag.float().contiguous().to(device), persistent=False)

    def forward(self, q: Tensor, k: Tensor, v: Tensor, num_k_exclude_rope: int = 0) -> Tensor:
        """Attention of ``q`` to ``k``/``v``; the last ``num_k_exclude_rope`` keys are not rotated."""
        q = self._separate_heads(self.q_proj(q), self.num_heads)
        k = self._separate_heads(self.k_proj(k), self.num_heads)
        v = self._separate_heads(self.v_proj(v), self.num_heads)
        q = rotate_pairs(q, self.cos, self.sin)
        n_rope = k.shape[-2] - num_k_exclude_rope
        k = torch.cat((rotate_pairs(k[:, :, :n_rope], self.cos, self.sin), k[:, :, n_rope:]), dim=2)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout_p if self.training else 0.0)
        return self.out_proj(self._recombine_heads(out))


def real_rope_model(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose every ``RoPEAttention`` is a :class:`RealRoPEAttention` (weights shared by value)."""
    model = copy.deepcopy(model)
    replacements = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if type(child) is RoPEAttention
    ]
    for parent, name, child in replacements:
        setattr(parent, name, RealRoPEAttention(child))
    return model
