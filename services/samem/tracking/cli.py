"""The ``samem track`` subcommand: a video and prompts in; trajectories, masks, preview and run record out."""

from __future__ import annotations

import argparse

from samem.analysis.cli import KEEP_EDGE_HELP, MAX_AREA_CHANGE_HELP, MIN_IOU_HELP, gap_rules
from samem.argtypes import factor_above_one, fraction, non_negative_int, positive_float, zoom_choice

EPILOG = (
    "Writes OUT/trajectories.csv (frame, particle, x, y, area_px, ..., present, n_fragments, at_edge), OUT/masks.tif "
    "(T x H x W labels = particle ids), OUT/overlay.mp4 and OUT/run.json; with --analyze also OUT/analysis/ "
    "(positions at the frame edge left out unless --keep-edge). Coordinates are input pixels, x = column, y = row."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``track`` subcommand."""
    p = subparsers.add_parser(
        "track", help="segment and track prompted particles through a video with SAM 2",
        description="Track particles prompted once (a box or points) through a video with a SAM 2 model.",
        epilog=EPILOG,
    )
    p.add_argument("video", metavar="VIDEO", help="TIFF stack, image folder, MP4/AVI, DM3/DM4, SER, EMD or MRC")
    p.add_argument("--box", action="append", default=[], metavar="X0,Y0,X1,Y1",
                   help="a particle's box on --prompt-frame (repeat; particles are numbered 1, 2, ... in order)")
    p.add_argument("--point", action="append", default=[], metavar="ID:X,Y[:LABEL]",
                   help="a point for particle ID on --prompt-frame (LABEL 1 positive, default, or 0 negative)")
    p.add_argument("--prompt-frame", type=non_negative_int, default=0, help="frame of --box/--point (default 0)")
    p.add_argument("--prompts", metavar="PROMPTS.json",
                   help='prompts on any frames: [{"particle": 1, "frame": 0, "box": [x0, y0, x1, y1]}, ...]')
    p.add_argument("--model", default=None,
                   help="NAME[:CHECKPOINT], e.g. sam2.1_hiera_l:/models/sam_em.pt or samem-compact:random "
                   "(default samem-compact with its shipped weights; with a Triton backend, the server's model)")
    p.add_argument("--backend", default="local", metavar="local|triton://HOST:PORT",
                   help="where the model runs: in this process (default) or on a Triton server started with "
                   "`samem triton` (add ?shared_memory=1 on the same host to pass tensors through shared memory)")
    p.add_argument("--zoom", type=zoom_choice, default="auto", metavar="auto|off|Z",
                   help="track each particle in its own window, Z x its prompt box (auto, the default: 8x when that"
                        " is at most half the frame, else 6x when that fits the frame; off: whole frames)")
    p.add_argument("--no-follow-motion", dest="follow_motion", action="store_false",
                   help="in windows, move each window with its particle's mask only, not also by the particle's"
                        " motion measured on the frames (the default moves the window and the mask prompt by it)")
    p.add_argument("--device", default="cpu", metavar="cpu|cuda|cuda:N|auto",
                   help="where the local model runs (default cpu; auto: CUDA when available)")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="fp32 (default) or bf16: bfloat16 autocast of the local model (GPUs; CPUs with AMX or"
                        " AVX-512 BF16)")
    p.add_argument("--out", required=True, metavar="OUT_DIR", help="output directory (written atomically)")
    p.add_argument("--overlay", choices=("mp4", "gif", "none"), default="mp4", help="preview format (default mp4)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    g = p.add_argument_group("analysis afterwards")
    g.add_argument("--analyze", action="store_true", help="run `samem analyze` on the trajectories into OUT/analysis")
    g.add_argument("--px-nm", type=positive_float, help="pixel size in nm (default: from the file's metadata)")
    g.add_argument("--fps", type=positive_float, help="frames per second (default: from the file's metadata)")
    g.add_argument("--keep-edge", action="store_true", help=KEEP_EDGE_HELP)
    g.add_argument("--min-iou", type=fraction, metavar="P", help=MIN_IOU_HELP)
    g.add_argument("--max-area-change", type=factor_above_one, metavar="F", help=MAX_AREA_CHANGE_HELP)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Resolve prompts, track, optionally analyse; print where the results are."""
    from pathlib import Path

    from samem.errors import InputError
    from samem.io.output import check_writable_dir
    from samem.io.video import open_video
    from samem.tracking.api import track
    from samem.tracking.prompts import prompts_from_options, read_prompt_file

    check_writable_dir(args.out)
    prompts = prompts_from_options(args.box, args.point, frame=args.prompt_frame)
    if args.prompts:
        from_file = read_prompt_file(args.prompts)
        taken = {p.particle for p in prompts}
        clash = sorted(taken & {p.particle for p in from_file})
        if clash:
            raise InputError(f"particle ids {clash} are given both by --box/--point and in {args.prompts}")
        prompts += from_file
    with open_video(args.video) as reader:  # opened once: opening a movie decodes it to count its frames
        px_nm, fps = args.px_nm, args.fps
        if args.analyze:
            px_nm = px_nm or reader.info.px_nm
            interval = reader.info.frame_interval_s
            fps = fps or (1.0 / interval if interval else None)
            if px_nm is None or fps is None:
                raise InputError("--analyze needs --px-nm and --fps: the video's metadata does not give them")
        result = track(
            reader, prompts, model=args.model, backend=args.backend, out_dir=args.out, progress=args.progress,
            overlay=None if args.overlay == "none" else f"overlay.{args.overlay}", zoom=args.zoom,
            follow_motion=args.follow_motion, device=args.device, precision=args.precision,
        )
    run_info = result.run
    print(
        f"tracked {len({p.particle for p in prompts})} particle(s) over {run_info['n_frames_tracked']} frames "
        f"at {run_info['frames_per_second']} frames/s; results in {args.out}"
    )
    if args.analyze:
        from samem.analysis.pipeline import analyze
        from samem.analysis.positions import analysed_positions
        from samem.analysis.writer import write_analysis

        table, gaps = analysed_positions(
            result.trajectories, gap_rules(args), name="tracked trajectories",
            hint=f" (tracking results are in {args.out})",
        )  # fmt: skip
        analysis = analyze(table, px_nm=px_nm, fps=fps)
        write_analysis(analysis, Path(args.out) / "analysis", source=str(Path(args.out) / "trajectories.csv"),
                       gaps=gaps, positions=result.trajectories)  # fmt: skip
        print(analysis.summary())
    return 0
