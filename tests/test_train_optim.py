"""Layer-wise learning-rate decay over the Hiera encoder, weight-decay exclusions, warm-up + cosine schedule."""

from __future__ import annotations

import pytest
import torch
from train_support import tiny_model

from samem.train.optim import lr_factor, make_optimizer, make_scheduler, param_settings
from samem.train.recipe import TrainRecipe

RECIPE = TrainRecipe(lr=1e-4, lr_encoder=5e-5, layer_decay=0.8, warmup_steps=10, steps=110, min_lr_ratio=0.1)


def test_layer_wise_decay():
    model = tiny_model()
    depth = len(model.image_encoder.trunk.blocks)
    assert depth == 8  # samem-compact: stages 1-2-4-1
    settings = param_settings(model, RECIPE)
    for i in range(depth):
        assert settings[f"image_encoder.trunk.blocks.{i}.mlp.layers.0.weight"].lr == pytest.approx(
            5e-5 * 0.8 ** (depth - 1 - i)
        )
    assert settings[f"image_encoder.trunk.blocks.{depth - 1}.attn.qkv.weight"].lr == pytest.approx(5e-5)
    assert settings["image_encoder.trunk.patch_embed.proj.weight"].lr == pytest.approx(5e-5 * 0.8**depth)
    assert settings["image_encoder.trunk.pos_embed"].lr == pytest.approx(5e-5 * 0.8**depth)
    assert settings["image_encoder.neck.convs.0.conv.weight"].lr == pytest.approx(5e-5)
    assert settings["sam_mask_decoder.iou_prediction_head.layers.0.weight"].lr == pytest.approx(1e-4)
    assert settings["memory_attention.layers.0.linear1.weight"].lr == pytest.approx(1e-4)
    assert settings["memory_attention.layers.0.linear1.weight"].weight_decay == RECIPE.weight_decay
    assert settings["memory_attention.layers.0.linear1.bias"].weight_decay == 0.0
    assert settings["image_encoder.trunk.pos_embed"].weight_decay == 0.0
    assert settings["maskmem_tpos_enc"].weight_decay == 0.0

    optimizer = make_optimizer(model, RECIPE)
    covered = [p for group in optimizer.param_groups for p in group["params"]]
    assert len(covered) == len(list(model.parameters())) == len({id(p) for p in covered})
    for group in optimizer.param_groups:
        for name in group["names"]:
            assert group["lr"] == pytest.approx(settings[name].lr)


def test_warmup_then_cosine():
    assert lr_factor(0, RECIPE) == pytest.approx(0.1)
    assert lr_factor(9, RECIPE) == pytest.approx(1.0)
    assert lr_factor(10, RECIPE) == pytest.approx(1.0)
    assert lr_factor(60, RECIPE) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_factor(110, RECIPE) == pytest.approx(0.1)
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([{"params": [param], "lr": 2.0}])
    scheduler = make_scheduler(optimizer, RECIPE)
    seen = []
    for _ in range(12):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen[:3] == pytest.approx([0.2, 0.4, 0.6]) and seen[10] == pytest.approx(2.0)
