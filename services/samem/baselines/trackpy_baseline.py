"""The classical baseline: trackpy localisation and linking, with label masks for the segmentation metrics.

Pipeline of :func:`track_with_trackpy`, reading frames lazily (one at a time, twice):

1. Intensities are mapped linearly by :class:`~samem.io.video.IntensityNormalizer`'s percentiles (fitted once per
   video; ``low`` -> 0, ``high`` -> 1) *without clipping*, and, for dark particles on a bright background
   (mass-thickness contrast, the default), inverted (``1 - value``), so particles are bright peaks as trackpy
   expects. Clipping would saturate particles that cover fewer pixels than the percentile (two 20 px particles are
   0.24 % of a 512 px frame, under the default 0.5 %) into flat plateaus with about half their contrast, and
   trackpy then finds noise maxima instead of them; trackpy's steps are linear and need no clipping.
2. ``trackpy.batch`` locates features (Crocker-Grier: band-pass, local maxima, mass-weighted centroid refinement)
   with an odd feature ``diameter_px``; features below ``minmass`` are dropped.
3. ``trackpy.link`` joins them into trajectories with ``search_range_px`` and ``memory``; particle ids are
   renumbered 1, 2, ... in order of first appearance (then of position).
4. Label masks (``T x H x W`` uint16, 0 = background), by the *region rule* below.

Region rule for the labels. Each frame is prepared as in step 1, smoothed with a Gaussian of sigma
``smoothing_sigma_px``, its slowly varying background (a Gaussian of sigma ``2 * diameter_px``) is subtracted, and
the result is thresholded at the Otsu level of the pixels within ``diameter_px`` (per axis) of the frame's features,
the only pixels that can be foreground (holes in the foreground are filled). Around the features particles are a
good share of the pixels; over a whole frame with a few small particles the level would fall inside the noise.
A located feature receives the 8-connected foreground region that contains its rounded position. Where several
features of a frame fall in one region, the region's pixels go to the nearest feature (a Voronoi split). A feature
whose position is not in the foreground, or whose region is larger than ``max_region_factor`` times the area of a
disc of diameter ``diameter_px`` (a threshold that leaked into the background), gets instead a disc centred on its
position with radius ``sqrt(2) * size`` (trackpy's ``size`` is the radius of gyration; a uniform disc of radius r
has r / sqrt(2)), at most ``diameter_px / 2``. Where discs or regions of different features would overlap, the
earlier-claimed pixel keeps its label (features are painted in order of decreasing mass, regions before discs).

Reasonable defaults relative to the particle diameter d (pixels): ``diameter_px`` the smallest odd integer
>= d + 2 (trackpy wants the mask a little larger than the feature; :func:`estimate_diameter` measures d from the
data when it is not given, by scale-space blob detection, :func:`particle_diameter`); ``separation_px`` =
``diameter_px``; ``search_range_px`` = ``diameter_px`` (must exceed the largest per-frame displacement and should
stay below the spacing of neighbours; lower it for crowded videos); ``minmass`` estimated from the data (see
:func:`estimate_minmass`); ``memory`` = 3 frames. :func:`tune_parameters` picks ``diameter_px`` (relative steps
around the estimate) and ``minmass`` on a video with ground truth by a small grid search.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.fft
from scipy import ndimage

from samem.baselines.common import check_memory, import_trackpy, link_features, prepare_frame
from samem.errors import InputError
from samem.io.video import IntensityNormalizer, VideoReader, open_video

#: Columns of :attr:`BaselineResult.trajectories`, in order (trackpy's names; x = column, y = row).
TRAJECTORY_COLUMNS = ("frame", "particle", "x", "y", "mass", "size", "ecc", "signal")

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
_MIN_DIAMETER = 5


@dataclass(frozen=True, kw_only=True)
class BaselineResult:
    """What :func:`track_with_trackpy` returns.

    Attributes
    ----------
    trajectories : pandas.DataFrame
        One row per linked feature per frame, columns :data:`TRAJECTORY_COLUMNS` (``frame``, ``particle``
        (ids from 1), ``x``, ``y`` (pixels; x = column, y = row, pixel centres at integers, as in
        :mod:`samem.measure`), ``mass``, ``size``, ``ecc``, ``signal`` in the units of the normalised, inverted
        frames), sorted by frame then particle.
    labels : numpy.ndarray or None
        ``T x H x W`` uint16 label stack (0 = background, k = particle k), None when not requested.
    parameters : dict
        The parameters actually used (estimated ones filled in).
    """

    trajectories: pd.DataFrame
    labels: np.ndarray | None
    parameters: dict[str, Any] = field(default_factory=dict)


def check_diameter(value: object) -> int:
    """A trackpy feature diameter: an odd integer >= 3 (pixels); :class:`InputError` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InputError(f"diameter must be an odd integer >= 3 (pixels), got {value!r}")
    if int(value) != value or value < 3 or value % 2 == 0:
        raise InputError(f"diameter must be an odd integer >= 3 (pixels), got {value!r}")
    return int(value)


def _odd_at_least(value: float) -> int:
    n = max(_MIN_DIAMETER, math.ceil(value))
    return n if n % 2 else n + 1


def _prepared_frames(
    reader: VideoReader, normalizer: IntensityNormalizer, invert: bool
) -> Iterator[tuple[int, np.ndarray]]:
    for index, frame in reader.iter_frames():
        yield index, prepare_frame(frame, normalizer, invert, clip=False)


class _LazyFrames(Sequence[np.ndarray]):
    """Prepared frames read on access (``trackpy.batch`` indexes its input; nothing is cached)."""

    def __init__(self, reader: VideoReader, normalizer: IntensityNormalizer, invert: bool) -> None:
        self.reader, self.normalizer, self.invert = reader, normalizer, invert

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, index: int) -> np.ndarray:  # type: ignore[override]
        return prepare_frame(self.reader.read(int(index)), self.normalizer, self.invert, clip=False)

    def __iter__(self) -> Iterator[np.ndarray]:
        for _, image in _prepared_frames(self.reader, self.normalizer, self.invert):
            yield image


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of finite ``values`` (the level maximising the between-class variance of a histogram).

    Returns the single value for constant input.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan")
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return low
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(counts)
    weight_high = weight_low[-1] - weight_low
    sum_low = np.cumsum(counts * centres)
    mean_low = sum_low / np.maximum(weight_low, 1)
    mean_high = (sum_low[-1] - sum_low) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(centres[int(np.argmax(between[:-1]))])


def foreground(
    image: np.ndarray, *, diameter_px: float, smoothing_sigma_px: float = 1.0, near: np.ndarray | None = None
) -> np.ndarray:
    """Boolean foreground of a prepared (normalised, particles-bright) frame by the module's region rule.

    Gaussian smoothing (sigma ``smoothing_sigma_px``), minus the background (Gaussian of sigma
    ``2 * diameter_px``), thresholded at the Otsu level of the pixels where ``near`` is true (default: all) and
    limited to them, holes filled.
    """
    image = np.asarray(image, dtype=np.float32)
    smooth = ndimage.gaussian_filter(image, smoothing_sigma_px) if smoothing_sigma_px > 0 else image
    flat = smooth - ndimage.gaussian_filter(image, 2.0 * diameter_px, mode="reflect")
    near = np.ones(image.shape, dtype=bool) if near is None else near
    level = otsu_threshold(flat[near])
    if not math.isfinite(level):
        return np.zeros(image.shape, dtype=bool)
    return ndimage.binary_fill_holes((flat > level) & near)


def near_positions(shape: tuple[int, int], xs: np.ndarray, ys: np.ndarray, radius: int) -> np.ndarray:
    """Boolean ``shape`` mask of the pixels within ``radius`` (per axis) of any position (x = column, y = row)."""
    near = np.zeros(shape, dtype=bool)
    for row, col in zip(np.rint(ys).astype(int), np.rint(xs).astype(int), strict=True):
        near[max(0, row - radius) : max(0, row + radius + 1), max(0, col - radius) : max(0, col + radius + 1)] = True
    return near


def _blob_scales(image: np.ndarray, sigmas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Significance and scale (px) of the blobs of a particles-bright frame, by the scale-normalised LoG.

    The responses ``-sigma**2 * LoG_sigma * image`` (computed by FFT, borders reflected) are maximised over
    ``sigmas`` (geometric) at every pixel; each local maximum of that is a blob, its scale refined by a parabola in
    log sigma through the neighbouring scales, and its significance is its response over the noise level of all
    responses at its scale (1.4826 x their median absolute deviation).
    """
    height, width = image.shape
    pad = min(math.ceil(3 * sigmas[-1]), height - 1, width - 1)
    padded = np.pad(np.asarray(image, dtype=np.float32), pad, mode="reflect")
    spectrum = scipy.fft.rfft2(padded, workers=1)
    ky, kx = scipy.fft.fftfreq(padded.shape[0]), scipy.fft.rfftfreq(padded.shape[1])
    k2 = ((2 * np.pi) ** 2 * (ky[:, None] ** 2 + kx[None, :] ** 2)).astype(np.float32)
    best = np.full(image.shape, -np.inf, dtype=np.float32)
    below, above, previous = np.zeros((3, height, width), dtype=np.float32)
    index, noise = np.zeros(image.shape, dtype=np.int64), np.empty(len(sigmas))
    for k, sigma in enumerate(sigmas):
        gain = np.float32(sigma**2) * k2 * np.exp(np.float32(-0.5 * sigma**2) * k2)
        response = scipy.fft.irfft2(spectrum * gain, s=padded.shape, workers=1)[pad : pad + height, pad : pad + width]
        noise[k] = 1.4826 * np.median(np.abs(response - np.median(response)))
        above = np.where(index == k - 1, response, above)
        better = response > best
        best, below = np.where(better, response, best), np.where(better, previous, below)
        index = np.where(better, k, index)
        previous = response
    peaks = (best == ndimage.maximum_filter(best, size=3)) & (best > 0)
    k, y0, y_minus, y_plus = index[peaks], best[peaks], below[peaks], above[peaks]
    inner = (k > 0) & (k < len(sigmas) - 1)
    curvature = np.where(inner, y_minus - 2 * y0 + y_plus, -1.0)
    shift = np.clip(np.where(inner & (curvature < 0), 0.5 * (y_minus - y_plus) / curvature, 0.0), -0.5, 0.5)
    step = math.log(sigmas[1] / sigmas[0]) if len(sigmas) > 1 else 0.0
    return y0 / np.maximum(noise[k], np.finfo(float).tiny), sigmas[k] * np.exp(shift * step)


def particle_diameter(
    reader: VideoReader,
    normalizer: IntensityNormalizer | None = None,
    *,
    invert: bool = True,
    n_frames: int = 5,
    steps_per_octave: int = 4,
) -> float:
    """The particles' diameter d (px) by scale-space blob detection on ``n_frames`` frames spread over the video.

    On each frame (prepared without clipping) the scale-normalised Laplacian of Gaussian gives every blob a scale
    sigma and a significance (:func:`_blob_scales`; sigma from 1 px up to the scale of a disc a quarter of the
    shorter frame side across, ``steps_per_octave`` per doubling). Particles are the blobs at least half as
    significant as the frame's most significant one and above the largest significance expected of noise alone,
    sqrt(2 ln N) for N pixels (the extreme of N Gaussian samples). d is the median of their 2 sqrt(2) sigma, the
    diameter of a uniform disc that responds most at sigma; projected spheres, brighter in the middle, come out
    about 10 % smaller. Raises
    :class:`~samem.errors.InputError` when no frame has a significant blob.

    References
    ----------
    T. Lindeberg, Int. J. Comput. Vis. 30, 79 (1998), Sec. 3 (scale selection by the normalised Laplacian).
    """
    normalizer = normalizer or IntensityNormalizer.fit(reader)
    n, height, width = len(reader), reader.info.height, reader.info.width
    indices = np.unique(np.linspace(0, n - 1, num=max(1, min(n_frames, n))).round().astype(int))
    largest = min(height, width) / 4 / (2 * math.sqrt(2))
    count = max(2, math.ceil(steps_per_octave * math.log2(max(largest, 2.0))) + 1)
    sigmas = np.geomspace(1.0, max(largest, 2.0), count)
    noise_extreme = math.sqrt(2 * math.log(height * width))
    diameters: list[float] = []
    for index in indices:
        image = prepare_frame(reader.read(int(index)), normalizer, invert, clip=False)
        if np.ptp(image) == 0:
            continue
        significance, sigma = _blob_scales(image, sigmas)
        if significance.size == 0:
            continue
        keep = significance >= max(noise_extreme, significance.max() / 2)
        diameters.extend((2 * math.sqrt(2) * sigma[keep]).tolist())
    if not diameters:
        raise InputError(f"{reader.info.path.name}: no particle-like blob stands out of the noise; pass the diameter")
    return float(np.median(diameters))


def estimate_diameter(
    reader: VideoReader, normalizer: IntensityNormalizer | None = None, *, invert: bool = True, n_frames: int = 5
) -> int:
    """The trackpy feature diameter: the smallest odd integer >= d + 2, d from :func:`particle_diameter`.

    At least 5 and at most about a quarter of the shorter frame side.
    """
    d = particle_diameter(reader, normalizer, invert=invert, n_frames=n_frames)
    largest = min(reader.info.height, reader.info.width) / 4
    return min(_odd_at_least(d + 2), _odd_at_least(largest - 1))


def estimate_minmass(masses: np.ndarray) -> float:
    """A mass cut-off from the masses of all candidate features (located with ``minmass=0``).

    Otsu's threshold of log10(mass) separates the many faint noise maxima from the particles; it is applied only
    when the two classes are well apart (the upper class's median at least 4 times the cut-off), since otherwise
    the candidates are all particles or all noise, and then 0 (keep everything) is returned.
    """
    masses = np.asarray(masses, dtype=np.float64)
    masses = masses[np.isfinite(masses) & (masses > 0)]
    if masses.size < 2:
        return 0.0
    logs = np.log10(masses)
    level = otsu_threshold(logs)
    upper = logs[logs > level]
    if upper.size == 0 or np.median(upper) - level < math.log10(4):
        return 0.0
    return float(10**level)


def count_matched_minmasses(
    masses: np.ndarray, n_true: int, multiples: tuple[float, ...] = (1.0, 2.0, 4.0)
) -> list[float]:
    """Cut-offs that keep about ``k * n_true`` of the candidate features for each ``k`` of ``multiples``.

    ``masses`` are every candidate's mass over a video and ``n_true`` its number of true particle positions (from
    the ground truth of a tuning video). Each cut-off lies halfway between the masses of the last kept and the
    first dropped candidate. Needed where particles are a tiny fraction of the candidates (a few particles among
    thousands of noise maxima per frame), which fixed percentiles of the masses miss.
    """
    values_in = np.asarray(masses, dtype=np.float64)
    ordered = np.sort(values_in[np.isfinite(values_in)])[::-1]
    values = []
    for multiple in multiples:
        keep = round(multiple * n_true)
        if 0 < keep < ordered.size:
            values.append(float((ordered[keep - 1] + ordered[keep]) / 2))
    return values


def _locate(
    trackpy: Any,
    reader: VideoReader,
    normalizer: IntensityNormalizer,
    *,
    invert: bool,
    diameter: int,
    minmass: float,
    separation: float,
    percentile: float,
) -> pd.DataFrame:
    with warnings.catch_warnings():  # "no maxima", "all maxima in the margins": an empty table says as much
        warnings.simplefilter("ignore", UserWarning)
        features = trackpy.batch(
            _LazyFrames(reader, normalizer, invert),
            diameter,
            minmass=minmass,
            separation=separation,
            percentile=percentile,
            processes=1,
        )
    if features is None or len(features) == 0:
        return pd.DataFrame(columns=["frame", "x", "y", "mass", "size", "ecc", "signal"])
    return features.reset_index(drop=True)


def _paint_frame(
    image: np.ndarray, features: pd.DataFrame, *, diameter: int, smoothing_sigma_px: float, max_region_factor: float
) -> np.ndarray:
    height, width = image.shape
    out = np.zeros((height, width), dtype=np.uint16)
    if len(features) == 0:
        return out
    features = features.sort_values("mass", ascending=False)
    xs, ys = features["x"].to_numpy(float), features["y"].to_numpy(float)
    near = near_positions((height, width), xs, ys, diameter)
    mask = foreground(image, diameter_px=diameter, smoothing_sigma_px=smoothing_sigma_px, near=near)
    regions, _ = ndimage.label(mask, structure=_EIGHT_CONNECTED)
    max_area = max_region_factor * math.pi * (diameter / 2) ** 2
    ids = features["particle"].to_numpy(np.int64)
    cols = np.clip(np.rint(xs).astype(int), 0, width - 1)
    rows = np.clip(np.rint(ys).astype(int), 0, height - 1)
    region_of = regions[rows, cols]
    areas = np.bincount(regions.ravel())
    use_region = (region_of > 0) & (areas[region_of] <= max_area)
    for region in np.unique(region_of[use_region]):
        members = np.flatnonzero(use_region & (region_of == region))
        rr, cc = np.nonzero(regions == region)
        free = out[rr, cc] == 0
        rr, cc = rr[free], cc[free]
        if members.size == 1:
            out[rr, cc] = ids[members[0]]
            continue
        distance = (cc[:, None] - xs[members]) ** 2 + (rr[:, None] - ys[members]) ** 2
        out[rr, cc] = ids[members[np.argmin(distance, axis=1)]]
    yy, xx = np.ogrid[:height, :width]
    for k in np.flatnonzero(~use_region):
        size = float(features["size"].iloc[k]) if "size" in features else float("nan")
        radius = min(math.sqrt(2) * size, diameter / 2) if math.isfinite(size) and size > 0 else diameter / 2
        disc = ((xx - xs[k]) ** 2 + (yy - ys[k]) ** 2 <= radius**2) & (out == 0)
        out[disc] = ids[k]
    return out


def _labels(
    reader: VideoReader,
    normalizer: IntensityNormalizer,
    trajectories: pd.DataFrame,
    *,
    invert: bool,
    diameter: int,
    smoothing_sigma_px: float,
    max_region_factor: float,
) -> np.ndarray:
    info = reader.info
    labels = np.zeros((info.n_frames, info.height, info.width), dtype=np.uint16)
    by_frame = dict(tuple(trajectories.groupby("frame")))
    for index, image in _prepared_frames(reader, normalizer, invert):
        features = by_frame.get(index)
        if features is not None:
            labels[index] = _paint_frame(
                image,
                features,
                diameter=diameter,
                smoothing_sigma_px=smoothing_sigma_px,
                max_region_factor=max_region_factor,
            )
    return labels


def track_with_trackpy(
    video_path: str | os.PathLike[str],
    *,
    diameter_px: int | None = None,
    minmass: float | None = None,
    search_range_px: float | None = None,
    memory: int = 3,
    invert: bool = True,
    separation_px: float | None = None,
    percentile: float = 64.0,
    min_track_length: int = 1,
    low_percentile: float = 0.5,
    high_percentile: float = 99.5,
    make_labels: bool = True,
    smoothing_sigma_px: float = 1.0,
    max_region_factor: float = 4.0,
) -> BaselineResult:
    """Track the particles of a video with trackpy (see the module docstring for the pipeline and rules).

    Parameters
    ----------
    video_path
        Any video :func:`~samem.io.video.open_video` reads; frames are read lazily.
    diameter_px
        trackpy's feature diameter, an odd integer >= 3 a little larger than the particles (about d + 2 for
        particles of diameter d); None estimates it with :func:`estimate_diameter`.
    minmass
        Minimum integrated brightness of a feature, in units of the normalised (0-1) frame; None estimates it with
        :func:`estimate_minmass` from all candidates of the video.
    search_range_px
        Largest displacement between linked detections, pixels; default ``diameter_px``.
    memory
        Frames a particle may vanish and still keep its id.
    invert
        True for dark particles on a bright background (TEM mass-thickness contrast).
    separation_px
        Minimum distance between features; default ``diameter_px``.
    percentile
        trackpy's peak brightness percentile filter.
    min_track_length
        Trajectories with fewer detections are dropped (``trackpy.filter_stubs``); 1 keeps all.
    low_percentile, high_percentile
        Intensity percentiles mapped to 0 and 1 (:meth:`~samem.io.video.IntensityNormalizer.fit`), linearly and
        without clipping.
    make_labels
        Build the label stack (a second pass over the video); False leaves ``labels`` None.
    smoothing_sigma_px, max_region_factor
        The region rule's smoothing and largest region, in areas of a disc of diameter ``diameter_px``.

    Returns
    -------
    BaselineResult
        Trajectories, labels and the parameters used. A video without any feature gives an empty table (and an
        all-zero label stack).
    """
    trackpy = import_trackpy()
    if diameter_px is not None:
        diameter_px = check_diameter(diameter_px)
    memory = check_memory(memory)
    with open_video(video_path) as reader:
        normalizer = IntensityNormalizer.fit(reader, low_percentile=low_percentile, high_percentile=high_percentile)
        diameter = diameter_px if diameter_px is not None else estimate_diameter(reader, normalizer, invert=invert)
        separation = float(separation_px) if separation_px is not None else float(diameter)
        search_range = float(search_range_px) if search_range_px is not None else float(diameter)
        if not search_range > 0:
            raise InputError(f"search range must be > 0 pixels, got {search_range_px!r}")
        locate_kwargs = {"invert": invert, "diameter": diameter, "separation": separation, "percentile": percentile}
        if minmass is None:
            candidates = _locate(trackpy, reader, normalizer, minmass=0.0, **locate_kwargs)
            minmass = estimate_minmass(candidates["mass"].to_numpy(float))
            features = candidates[candidates["mass"] >= minmass].reset_index(drop=True)
        else:
            features = _locate(trackpy, reader, normalizer, minmass=float(minmass), **locate_kwargs)
        if len(features):
            linked = link_features(
                trackpy, features, search_range=search_range, memory=memory, min_track_length=min_track_length
            )
        else:
            linked = pd.DataFrame(columns=list(TRAJECTORY_COLUMNS))
        columns = [c for c in TRAJECTORY_COLUMNS if c in linked.columns]
        trajectories = (
            linked[columns]
            .astype({"frame": np.int64, "particle": np.int64})
            .sort_values(["frame", "particle"])
            .reset_index(drop=True)
        )
        labels = None
        if make_labels:
            labels = _labels(
                reader,
                normalizer,
                trajectories,
                invert=invert,
                diameter=diameter,
                smoothing_sigma_px=smoothing_sigma_px,
                max_region_factor=max_region_factor,
            )
    parameters = {
        "diameter_px": diameter,
        "minmass": float(minmass),
        "search_range_px": search_range,
        "memory": int(memory),
        "invert": invert,
        "separation_px": separation,
        "percentile": percentile,
        "min_track_length": min_track_length,
        "normalizer": {"low": normalizer.low, "high": normalizer.high},
    }
    return BaselineResult(trajectories=trajectories, labels=labels, parameters=parameters)


def detection_scores(pred: pd.DataFrame, gt: pd.DataFrame, max_distance: float) -> tuple[float, float]:
    """Detection F1 and centroid RMSE (pixels) of per-frame optimal matches within ``max_distance``."""
    from scipy.optimize import linear_sum_assignment

    squared: list[float] = []
    n_pred, n_gt = len(pred), len(gt)
    pred_by_frame = dict(tuple(pred.groupby("frame")))
    for frame, truth in gt.groupby("frame"):
        found = pred_by_frame.get(frame)
        if found is None or len(found) == 0:
            continue
        a, b = truth[["x", "y"]].to_numpy(float), found[["x", "y"]].to_numpy(float)
        cost = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)
        rows, cols = linear_sum_assignment(cost)
        squared.extend(cost[r, c] for r, c in zip(rows, cols, strict=True) if cost[r, c] <= max_distance**2)
    f1 = 2 * len(squared) / (n_pred + n_gt) if n_pred + n_gt else float("nan")
    rmse = float(np.sqrt(np.mean(squared))) if squared else float("inf")
    return f1, rmse


def _minmass_candidates(masses: np.ndarray, n_true: int, factors: tuple[float, ...]) -> list[float]:
    """The minmass values tried for one diameter (see :func:`tune_parameters`), ascending and distinct."""
    base = estimate_minmass(masses)
    if base > 0:
        values = [factor * base for factor in factors]
    else:  # no clear split between noise and particles: upper quantiles of the candidates' masses
        values = [0.0, *np.percentile(masses, (90, 97, 99)).tolist()] if masses.size else [0.0]
    return sorted({*values, *count_matched_minmasses(masses, n_true)})


def tune_parameters(
    video_path: str | os.PathLike[str],
    gt_tracks: pd.DataFrame,
    *,
    diameters_px: tuple[int, ...] | None = None,
    diameter_factors: tuple[float, ...] = (0.8, 1.0, 1.25, 1.5),
    minmass_factors: tuple[float, ...] = (0.5, 1.0, 2.0),
    gt_xy: tuple[str, str] = ("x_mask", "y_mask"),
    invert: bool = True,
    separation_px: float | None = None,
    percentile: float = 64.0,
    low_percentile: float = 0.5,
    high_percentile: float = 99.5,
) -> dict[str, Any]:
    """Grid-search ``diameter_px`` and ``minmass`` on a video with ground-truth tracks (e.g. ``gt_tracks.csv``).

    For each diameter the video's candidate features are located once (``minmass`` 0) and cut at each ``minmass``
    as trackpy cuts them (mass > minmass), so each trial detects what :func:`track_with_trackpy` with those two
    parameters would. Detections are matched to the ground truth per frame (optimal assignment within half the
    smallest diameter tried, the same for every trial). The best trial has the highest detection F1, then the
    lowest centroid RMSE.

    Parameters
    ----------
    video_path
        The video.
    gt_tracks
        Ground-truth table with ``frame`` and the columns ``gt_xy``.
    diameters_px
        Odd diameters to try; default: :func:`estimate_diameter` times each of ``diameter_factors``, rounded up to
        odd integers (relative steps, so the grid suits small and large particles alike).
    diameter_factors
        Multiples of the estimated diameter tried when ``diameters_px`` is None.
    minmass_factors
        Multiples of the estimated ``minmass`` (:func:`estimate_minmass`) to try; when the estimate is 0 (no clear
        split between noise and particles), 0 and the 90th, 97th and 99th percentiles of the candidates' masses are
        tried instead. Either way the cut-offs keeping 1, 2 and 4 times the true number of positions are tried too
        (:func:`count_matched_minmasses`).
    gt_xy
        Ground-truth position columns (default the mask centroid).
    invert, separation_px, percentile, low_percentile, high_percentile
        Localisation settings, as in :func:`track_with_trackpy`.

    Returns
    -------
    dict
        ``{"diameter_px", "minmass", "detection_f1", "centroid_rmse_px", "n_detections", "match_px", "grid": [the
        same keys for every trial]}``; pass ``diameter_px`` and ``minmass`` on to :func:`track_with_trackpy`.
    """
    if diameters_px is not None and not diameters_px:
        raise InputError("give at least one diameter to try")
    if diameters_px is None and (not diameter_factors or min(diameter_factors) <= 0):
        raise InputError(f"diameter factors must be > 0, got {diameter_factors!r}")
    gt = gt_tracks[["frame", *gt_xy]].set_axis(["frame", "x", "y"], axis=1).dropna()
    trackpy = import_trackpy()
    grid: list[dict[str, Any]] = []
    with open_video(video_path) as reader:
        normalizer = IntensityNormalizer.fit(reader, low_percentile=low_percentile, high_percentile=high_percentile)
        if diameters_px is None:
            base = estimate_diameter(reader, normalizer, invert=invert)
            diameters_px = tuple(sorted({_odd_at_least(factor * base) for factor in diameter_factors}))
        diameters = [check_diameter(d) for d in diameters_px]
        match_px = min(diameters) / 2
        for diameter in diameters:
            separation = float(separation_px) if separation_px is not None else float(diameter)
            candidates = _locate(
                trackpy, reader, normalizer, invert=invert, diameter=diameter, minmass=0.0, separation=separation,
                percentile=percentile,
            )  # fmt: skip
            masses = candidates["mass"].to_numpy(float)
            for minmass in _minmass_candidates(masses, len(gt), minmass_factors):
                kept = candidates[masses > minmass]
                f1, rmse = detection_scores(kept, gt, match_px)
                grid.append({"diameter_px": diameter, "minmass": minmass, "detection_f1": f1,
                             "centroid_rmse_px": rmse, "n_detections": len(kept), "match_px": match_px})  # fmt: skip
    best = max(grid, key=lambda row: (np.nan_to_num(row["detection_f1"], nan=-1.0), -row["centroid_rmse_px"]))
    return {**best, "grid": grid}
