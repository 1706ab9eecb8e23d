"""Training recipes: typed, validated on construction; named presets; CLI overrides via ``with_overrides``."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from samem.errors import InputError
from samem.sim.randomize import STEP_PX

IOU_LOSSES = ("l1", "mse")
PRECISIONS = ("auto", "fp32", "bf16")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise InputError(message)


@dataclass(frozen=True, kw_only=True)
class TrainRecipe:
    """Everything that determines a training run besides the initial weights and the data source.

    Learning rates: ``lr`` for every module but the image encoder; the encoder's last Hiera block and neck get
    ``lr_encoder``, Hiera block ``i`` (1-based, ``depth`` blocks) ``lr_encoder * layer_decay ** (depth - i)`` and
    the patch and position embeddings ``lr_encoder * layer_decay ** depth``. All follow a linear warm-up over
    ``warmup_steps`` then a cosine decay to ``min_lr_ratio`` times their peak. Loss weights are focal : dice :
    IoU : object score (SAM-EM used 1 : 3 : 1 : 1; SAM 2 itself 20 : 1 : 1 : 1). ``box_noise`` is the box jitter
    as a fraction of the box side (uniform), capped at ``box_noise_bound`` model pixels, as SAM 2 samples boxes.
    ``image_size`` None trains at the config's input size. ``frame_size`` is the range of simulated frame sides;
    ``crop`` the range of the side fraction of a random window cut from each clip before it is resized (1, 1: whole
    frames). ``short_clips`` is the fraction of clips cut to 2 frames (the prompted one and one tracked): cheap
    clips that mostly teach prompt following. ``cnr`` is the range of the simulator's target per-pixel
    contrast-to-noise ratio; over the first ``easy_steps`` its lower bound falls log-linearly from a quarter of
    the upper bound to ``cnr[0]`` (a curriculum from clear to barely visible particles). ``box_mask_prompt`` also
    gives each box to the model as a dense mask prompt (:func:`samem.engine.steps.box_mask`), at training and,
    through a checkpoint key, at inference: for weights trained from scratch, which otherwise learn to segment
    every particle whatever the box (SAM 2 and SAM-EM checkpoints were trained without it: leave it off).
    ``mask_propagation`` gives each object's mask on the previous frame (the model's own output, no gradient) as a
    dense mask prompt on tracked frames, at training and, through a checkpoint key, at inference
    (:func:`samem.engine.steps.track_frame`); off for SAM 2 and SAM-EM checkpoints. ``clamp_pointer_offsets``
    (a checkpoint key; a no-op on clips shorter than the pointer window) keeps conditioning-frame pointers at
    inference within the temporal offsets training clips cover (:func:`samem.engine.memory.select_layout`).
    ``prompt_jitter`` moves each previous-mask prompt in training by a random shift of up to that many mask pixels
    (each axis), so that the model places the mask where the image shows the particle rather than copying the
    prompt (copying made tracked masks lag the motion). ``window_clips`` is the fraction of clips cut as one
    particle's window, as window-mode tracking sees it (:func:`samem.train.data.make_window_clip`), with the window
    side ``window_zoom`` (a uniform range) times the particle's box. ``step_px`` is the simulator's range of each
    particle's RMS displacement per axis per frame, in simulated frame pixels (log-uniform). ``exits`` is the
    simulator's chance that a particle drifts out of the field within the clip: empty targets for the object-score
    loss, which otherwise sees few exits (tracked masks of particles that have left stay on; README, Train).
    """

    name: str = "custom"
    model: str | None = None  # default NAME[:CHECKPOINT] when --model is not given
    image_size: int | None = None
    steps: int = 1000
    clips_per_step: int = 1
    frames: int = 4
    max_objects: int = 8
    lr: float = 1e-4
    lr_encoder: float = 1e-4
    layer_decay: float = 0.9
    weight_decay: float = 0.1
    warmup_steps: int = 50
    min_lr_ratio: float = 0.05
    grad_clip: float = 0.1
    focal_weight: float = 1.0
    dice_weight: float = 3.0
    iou_weight: float = 1.0
    object_score_weight: float = 1.0
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    iou_loss: str = "l1"
    supervise_all_iou: bool = True
    box_noise: float = 0.1
    box_noise_bound: float = 20.0
    frame_size: tuple[int, int] = (512, 1024)
    crop: tuple[float, float] = (1.0, 1.0)
    short_clips: float = 0.0
    cnr: tuple[float, float] = (0.3, 12.0)
    easy_steps: int = 0
    box_mask_prompt: bool = False
    mask_propagation: bool = False
    clamp_pointer_offsets: bool = True
    prompt_jitter: int = 0
    window_clips: float = 0.0
    window_zoom: tuple[float, float] = (6.0, 10.0)
    max_particles: int = 10
    step_px: tuple[float, float] = STEP_PX
    exits: float = 0.0
    val_every: int = 250
    val_clips: int = 8
    val_frames: int = 8
    checkpoint_every: int = 100
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    workers: int = 0
    threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("steps", "clips_per_step", "max_objects", "val_every", "val_frames", "checkpoint_every"):
            value = getattr(self, name)
            _check(
                isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                f"{name} must be an integer >= 1, got {value!r}",
            )
        for name in ("warmup_steps", "val_clips", "seed", "workers", "easy_steps", "prompt_jitter"):
            value = getattr(self, name)
            _check(
                isinstance(value, int) and not isinstance(value, bool) and value >= 0,
                f"{name} must be an integer >= 0, got {value!r}",
            )
        _check(self.frames >= 2, f"frames must be >= 2 (a prompted frame and a tracked one), got {self.frames}")
        _check(self.image_size is None or (self.image_size >= 32 and self.image_size % 16 == 0),
               f"image_size must be a multiple of 16 and >= 32, got {self.image_size!r}")  # fmt: skip
        _check(self.threads is None or self.threads >= 1, f"threads must be >= 1, got {self.threads!r}")
        for name in ("lr", "lr_encoder", "grad_clip"):
            value = getattr(self, name)
            _check(math.isfinite(value) and value > 0, f"{name} must be a number > 0, got {value!r}")
        for name in ("weight_decay", "focal_weight", "dice_weight", "iou_weight", "object_score_weight",
                     "focal_gamma", "box_noise", "box_noise_bound"):  # fmt: skip
            value = getattr(self, name)
            _check(math.isfinite(value) and value >= 0, f"{name} must be a number >= 0, got {value!r}")
        _check(0 < self.layer_decay <= 1, f"layer_decay must be in (0, 1], got {self.layer_decay!r}")
        _check(0 <= self.min_lr_ratio <= 1, f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio!r}")
        _check(0 <= self.focal_alpha <= 1, f"focal_alpha must be in [0, 1], got {self.focal_alpha!r}")
        _check(self.iou_loss in IOU_LOSSES, f"iou_loss must be one of {', '.join(IOU_LOSSES)}, got {self.iou_loss!r}")
        _check(
            self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
        )
        lo, hi = self.frame_size
        _check(8 <= lo <= hi, f"frame_size must satisfy 8 <= min <= max, got {self.frame_size!r}")
        c_lo, c_hi = self.crop
        _check(0.05 <= c_lo <= c_hi <= 1.0, f"crop must satisfy 0.05 <= min <= max <= 1, got {self.crop!r}")
        _check(0 <= self.short_clips <= 1, f"short_clips must be in [0, 1], got {self.short_clips!r}")
        _check(0 <= self.exits <= 1, f"exits must be in [0, 1], got {self.exits!r}")
        _check(0 <= self.window_clips <= 1, f"window_clips must be in [0, 1], got {self.window_clips!r}")
        z_lo, z_hi = self.window_zoom
        _check(1 <= z_lo <= z_hi, f"window_zoom must satisfy 1 <= min <= max, got {self.window_zoom!r}")
        n_lo, n_hi = self.cnr
        _check(0 < n_lo <= n_hi, f"cnr must satisfy 0 < min <= max, got {self.cnr!r}")
        s_lo, s_hi = self.step_px
        _check(0 < s_lo <= s_hi, f"step_px must satisfy 0 < min <= max, got {self.step_px!r}")
        _check(self.max_particles >= 1, f"max_particles must be >= 1, got {self.max_particles!r}")
        _check(self.focal_weight + self.dice_weight > 0, "focal_weight and dice_weight cannot both be 0")

    def with_overrides(self, **overrides: Any) -> TrainRecipe:
        """A copy with the given fields replaced (None values are ignored), validated again."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        _check(not unknown, f"unknown recipe field(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def cnr_range(self, step: int) -> tuple[float, float]:
        """The simulator's CNR range at training step ``step`` (1-based), following the ``easy_steps`` curriculum."""
        low, high = self.cnr
        if step >= self.easy_steps:
            return low, high
        start = max(high / 4.0, low)
        fraction = max(step - 1, 0) / self.easy_steps
        return start * (low / start) ** fraction, high

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able fields."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainRecipe:
        """The inverse of :meth:`to_dict`."""
        known = {f.name for f in dataclasses.fields(cls)}
        pairs = ("frame_size", "crop", "cnr", "window_zoom", "step_px")
        fields = {k: tuple(v) if k in pairs else v for k, v in values.items() if k in known}
        return cls(**fields)


# samem-compact from scratch on a 2-core CPU in about an hour: 256 px (at 512 px the per-object memory attention
# makes a step ~5x slower), up to 8 objects. A first run (4000 steps, all clips 4 frames, lr 5e-4, full CNR range)
# reached train IoU 0.24 and validation J 0.1: it segmented every particle in the frame whatever the box (two
# different boxes changed the logits by < 0.01 %). Lower learning rates, batches of 8 single frames and sharper
# prompt position encodings all fell into the same minimum within 200 steps; boxes also given as dense mask
# prompts (box_mask_prompt) kept the logits prompt-dependent (8 % at step 250, rising). Half the clips are 2 frames
# (prompt following, cheap) and the CNR range opens from clear to barely visible over the first 2000 steps. Crops of
# 50-100 % of the frame widen the particle sizes seen in model pixels.
COMPACT = TrainRecipe(
    name="compact-base",
    model="samem-compact:random",
    image_size=256,
    steps=5000,
    clips_per_step=1,
    frames=4,
    short_clips=0.5,
    easy_steps=2000,
    box_mask_prompt=True,
    max_objects=8,
    lr=8e-4,
    lr_encoder=8e-4,
    layer_decay=0.9,
    weight_decay=0.05,
    warmup_steps=200,
    min_lr_ratio=0.05,
    grad_clip=1.0,
    box_noise_bound=5.0,
    frame_size=(192, 512),
    crop=(0.5, 1.0),
    val_every=1000,
    val_clips=8,
    val_frames=8,
    checkpoint_every=50,
    threads=1,
)

# Stage 2 of samem-compact, from stage 1's weights: tracked frames also get the object's previous mask as a prompt
# (mask_propagation). Stage 1's memory path alone lost the particles (J 0.8 on the prompted frame, 0.1-0.25 over
# 12-20 frames); 100 steps of this stage on 4-frame clips raised that to 0.55-0.8, the same 100 steps without mask
# propagation left it unchanged. All clips are 6 frames and the CNR range is the full one from the start.
COMPACT_TRACK = dataclasses.replace(
    COMPACT,
    name="compact-track",
    model=None,
    steps=1000,
    frames=6,
    short_clips=0.0,
    easy_steps=0,
    mask_propagation=True,
    lr=3e-4,
    lr_encoder=3e-4,
    warmup_steps=50,
    val_every=500,
    threads=2,
)

# Stage 3 of samem-compact, from stage 2's weights: 70 % of the clips are one particle's window as window-mode tracking
# sees it (the default for small particles in large frames), the rest stage 2's clips; lr 1e-4. 800 steps, 19 minutes
# on one CPU thread. On the first 150 frames of the full-scale test videos J 0.83 -> 0.86 (1 particle, 150 nm), 0.84
# -> 0.86 (2 particles, 150 nm), 0.87 -> 0.88 (1 particle, 5 nm), centroid RMSE 1.26 -> 0.77 px at 150 nm; mean J of
# bench/bench_domain.py (27 random clips) 0.559 -> 0.568. Windows from 3 to 10 x the particle instead of 6 to 10 x
# (also 800 steps) lost a particle of the 2-particle 150 nm video (J 0.70).
COMPACT_WINDOW = dataclasses.replace(
    COMPACT_TRACK,
    name="compact-window",
    steps=800,
    lr=1e-4,
    lr_encoder=1e-4,
    window_clips=0.7,
    val_every=400,
    threads=1,
)

# SAM-EM's setting: full fine-tuning of SAM 2.1 hiera-L from its checkpoint on a GPU, 1024 px, 8-frame clips with up
# to 8 objects, bf16 autocast, lr 5e-6 for the image encoder (layer decay 0.9) and 1e-5 for the rest.
SAM21_FINETUNE = TrainRecipe(
    name="sam2.1-finetune",
    model=None,
    image_size=None,
    steps=20000,
    clips_per_step=1,
    frames=8,
    max_objects=8,
    lr=1e-5,
    lr_encoder=5e-6,
    layer_decay=0.9,
    weight_decay=0.1,
    warmup_steps=500,
    min_lr_ratio=0.1,
    grad_clip=0.1,
    box_noise_bound=20.0,
    frame_size=(512, 1024),
    val_every=1000,
    val_clips=16,
    val_frames=16,
    checkpoint_every=500,
    device="auto",
    precision="auto",
    workers=4,
)

RECIPES: dict[str, TrainRecipe] = {r.name: r for r in (COMPACT, COMPACT_TRACK, COMPACT_WINDOW, SAM21_FINETUNE)}


def get_recipe(name: str) -> TrainRecipe:
    """A named recipe."""
    try:
        return RECIPES[name]
    except KeyError:
        raise InputError(f"unknown recipe {name!r}; known recipes: {', '.join(RECIPES)}") from None
