"""The ``samem simulate`` subcommand: one physics-based LPTEM video, or a randomised dataset (``--dataset N``)."""

from __future__ import annotations

import argparse

from samem.argtypes import non_negative_float, non_negative_int, positive_float, positive_int
from samem.sim.materials import PARTICLE_MATERIALS
from samem.sim.spec import MOTIONS, QUANTIZE, SHAPES

SHAPE_CHOICES = (*SHAPES, "mixed")


def _fractions(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not three comma-separated fractions") from None
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"{text!r} must give three fractions: train,val,test")
    return values  # type: ignore[return-value]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` subcommand."""
    p = subparsers.add_parser(
        "simulate",
        help="simulate an LPTEM video (or a dataset) with exact ground truth",
        description=(
            "Write OUT_DIR/video.tif, gt_masks.tif, gt_tracks.csv and meta.json: particles moving in a liquid cell,"
            " imaged by mass-thickness contrast with shot noise. With --dataset N, write N randomised clips in"
            " OUT_DIR/{train,val,test}/clip_NNNNN/ and OUT_DIR/dataset.json (the single-video knobs are ignored)."
        ),
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="output directory (created; existing files are replaced)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    p.add_argument("--no-progress", "--quiet", dest="progress", action="store_false", help="no progress bar")
    g = p.add_argument_group("video")
    g.add_argument("--frames", type=positive_int, default=200, help="number of frames (default 200)")
    g.add_argument("--width", type=positive_int, default=512, help="frame width, px (default 512)")
    g.add_argument("--height", type=positive_int, default=384, help="frame height, px (default 384)")
    g.add_argument("--fps", type=positive_float, default=20.0, help="frames per second (default 20)")
    g.add_argument("--px-nm", type=positive_float, default=0.5, help="pixel size, nm/px (default 0.5)")
    g.add_argument("--supersample", type=positive_int, default=3, help="anti-aliasing sub-samples per px and axis")
    g = p.add_argument_group("particles")
    g.add_argument("--particles", type=non_negative_int, default=6, metavar="N", help="number (default 6)")
    g.add_argument("--shape", choices=SHAPE_CHOICES, default="mixed", help="particle shape (default mixed)")
    g.add_argument(
        "--size-nm", type=positive_float, nargs="+", default=[8.0, 25.0], metavar="NM",
        help="size, or MIN MAX range, nm: diameter / edge (default 8 25)",
    )  # fmt: skip
    g.add_argument("--aspect", type=positive_float, help="rod length/diameter (3), triangle edge/thickness (4)")
    g.add_argument("--material", choices=PARTICLE_MATERIALS, default="Au", help="particle material (default Au)")
    g = p.add_argument_group("motion")
    g.add_argument("--motion", choices=MOTIONS, default="brownian", help="motion model (default brownian)")
    g.add_argument("--D", type=non_negative_float, default=50.0, help="diffusion coefficient, nm^2/s (default 50)")
    g.add_argument("--alpha", type=float, default=1.0, help="fbm MSD exponent / ctrw waiting exponent, in (0, 2)")
    g.add_argument("--drift-nm-s", type=float, nargs=2, default=(0.0, 0.0), metavar=("VX", "VY"), help="drift, nm/s")
    g.add_argument("--trap-radius-nm", type=positive_float, default=10.0, help="confined: RMS radius per axis, nm")
    g.add_argument("--ctrw-wait-s", type=positive_float, help="ctrw: waiting-time scale, s (default 1/fps)")
    g.add_argument("--d-rot", type=non_negative_float, default=0.2, help="rotational diffusion, rad^2/s (0.2)")
    g = p.add_argument_group("imaging")
    g.add_argument("--thickness-nm", type=positive_float, default=150.0, help="liquid thickness, nm (default 150)")
    g.add_argument("--dose-rate", type=positive_float, default=40.0, help="dose rate, e-/A^2/s (default 40)")
    g.add_argument("--exposure-s", type=positive_float, help="exposure per frame, s (default 1/fps)")
    g.add_argument("--blur-px", type=non_negative_float, default=1.0, help="detector PSF sigma, px (default 1)")
    g.add_argument("--bulge", type=non_negative_float, default=0.1, help="window bulging: corner thinning [0, 1)")
    g.add_argument("--gradient", type=non_negative_float, default=0.05, help="illumination gradient [0, 1)")
    g.add_argument("--illum-drift", type=non_negative_float, default=0.02, help="illumination drift amplitude")
    g.add_argument("--quantize", choices=QUANTIZE, default="none", help="output quantisation")
    g.add_argument("--jpeg-quality", type=positive_int, default=80, help="JPEG quality 1-100 (default 80)")
    g = p.add_argument_group("dataset")
    g.add_argument("--dataset", type=positive_int, metavar="N", help="write N randomised clips instead")
    g.add_argument("--splits", type=_fractions, default=(0.8, 0.1, 0.1), help="train,val,test fractions")
    g.add_argument("--frame-size", type=positive_int, nargs=2, default=(512, 1024), metavar=("MIN", "MAX"))
    g.add_argument("--clip-frames", type=positive_int, nargs=2, default=(8, 16), metavar=("MIN", "MAX"))
    g.add_argument("--max-particles", type=positive_int, default=10, help="dataset: at most this many per clip")
    p.set_defaults(handler=run)


def _video_spec(args: argparse.Namespace):  # -> VideoSpec (imported lazily)
    from samem.errors import InputError
    from samem.sim.layout import layout_spec
    from samem.sim.spec import ImagingSpec, MotionSpec

    if len(args.size_nm) > 2:
        raise InputError("--size-nm takes one size or a MIN MAX range")
    size = (args.size_nm[0], args.size_nm[-1])
    motion = MotionSpec(
        kind=args.motion,
        D_nm2_s=args.D,
        alpha=args.alpha,
        drift_nm_s=tuple(args.drift_nm_s),
        trap_radius_nm=args.trap_radius_nm if args.motion == "confined" else None,
        wait_scale_s=args.ctrw_wait_s,
        D_rot_rad2_s=args.d_rot,
    )
    imaging = ImagingSpec(
        thickness_nm=args.thickness_nm,
        dose_rate=args.dose_rate,
        exposure_s=args.exposure_s if args.exposure_s is not None else 1.0 / args.fps,
        blur_px=args.blur_px,
        bulge=args.bulge,
        gradient=args.gradient,
        illum_drift=args.illum_drift,
        quantize=args.quantize,
        jpeg_quality=args.jpeg_quality,
    )
    return layout_spec(
        seed=args.seed,
        width=args.width,
        height=args.height,
        n_frames=args.frames,
        fps=args.fps,
        px_nm=args.px_nm,
        n_particles=args.particles,
        shape=args.shape,
        size_nm=size,
        aspect=args.aspect,
        material=args.material,
        motion=motion,
        imaging=imaging,
        supersample=args.supersample,
    )


def run(args: argparse.Namespace) -> int:
    """Handle ``samem simulate``."""
    if args.dataset is not None:
        from samem.sim.dataset import write_dataset

        index = write_dataset(
            args.out_dir,
            n_clips=args.dataset,
            splits=args.splits,
            seed=args.seed,
            frame_size=tuple(args.frame_size),
            n_frames=tuple(args.clip_frames),
            max_particles=args.max_particles,
            progress=args.progress,
        )
        counts = ", ".join(f"{k} {v}" for k, v in index["splits"].items())
        print(f"wrote {index['n_clips']} clips to {args.out_dir} ({counts})")
        return 0
    from samem.sim.writer import write_video

    meta = write_video(_video_spec(args), args.out_dir, progress=args.progress)
    snr = "n/a" if meta["snr"] is None else f"{meta['snr']:.2f}"
    print(
        f"wrote {args.out_dir}: {meta['n_frames']} frames of {meta['height']}x{meta['width']} px,"
        f" {meta['n_particles']} particles, SNR {snr}"
    )
    return 0
