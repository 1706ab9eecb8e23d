"""From masks to measurements: one row per object per frame, lost objects included.

Conventions (shared with the simulator's ground truth):

- Coordinates are pixels of the input video; pixel centres lie at integer coordinates; ``x`` is the column and ``y``
  the row, so ``(x, y)`` is the mean of the mask pixels' (column, row) indices.
- ``orientation`` is the angle of the major axis in radians, in ``(-pi/2, pi/2]``, measured from the +x axis
  towards +y (clockwise as an image is displayed, since rows grow downwards).
- ``major_axis_px`` and ``minor_axis_px`` are the lengths of the ellipse with the same second moments
  (4 times the square root of the eigenvalues of the pixel-centre covariance, as in scikit-image).
- A mask in pieces: the particle is its largest 8-connected component; the other pieces do not move the centroid
  and are counted in ``n_fragments`` (1 for a whole mask, 0 for an empty one). Equal largest pieces: the first in
  row-major order wins.
- An empty mask gives ``present = False`` with NaN geometry: the row is never silently dropped.
- ``at_edge`` marks a particle whose largest piece touches the border of the frame: it is cut by the edge of the
  field of view, so its centroid lies inward of the particle's centre and its area is short. The analysis leaves
  these positions out as gaps, as trackpy's ``locate`` drops features within a margin of the image edge.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

MEASUREMENT_COLUMNS = (
    "frame",
    "particle",
    "x",
    "y",
    "area_px",
    "equivalent_diameter_px",
    "orientation",
    "major_axis_px",
    "minor_axis_px",
    "mask_score",
    "predicted_iou",
    "present",
    "n_fragments",
    "at_edge",
)

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def largest_component(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The largest 8-connected component of a boolean mask and the number of components."""
    labels, count = ndimage.label(mask, structure=_EIGHT_CONNECTED)
    if count <= 1:
        return mask.astype(bool, copy=False), count
    sizes = np.bincount(labels.ravel())[1:]
    return labels == (int(np.argmax(sizes)) + 1), count


def touches_border(mask: np.ndarray) -> bool:
    """Whether a boolean mask has a pixel in the first or last row or column of its frame."""
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def shape_moments(mask: np.ndarray) -> dict[str, float]:
    """Centroid, area and second-moment ellipse of a non-empty boolean mask (pixels; see module conventions)."""
    rows, cols = np.nonzero(mask)
    x, y = cols.mean(), rows.mean()
    dx, dy = cols - x, rows - y
    cov_xx, cov_yy, cov_xy = (dx * dx).mean(), (dy * dy).mean(), (dx * dy).mean()
    half_trace, det_term = (cov_xx + cov_yy) / 2, np.hypot((cov_xx - cov_yy) / 2, cov_xy)
    major_var, minor_var = half_trace + det_term, max(half_trace - det_term, 0.0)
    orientation = 0.5 * np.arctan2(2 * cov_xy, cov_xx - cov_yy)
    if orientation <= -np.pi / 2:
        orientation += np.pi
    area = float(rows.size)
    return {
        "x": float(x),
        "y": float(y),
        "area_px": area,
        "equivalent_diameter_px": float(np.sqrt(4 * area / np.pi)),
        "orientation": float(orientation),
        "major_axis_px": float(4 * np.sqrt(major_var)),
        "minor_axis_px": float(4 * np.sqrt(minor_var)),
    }


def measure_frame(
    masks: np.ndarray,
    *,
    frame: int,
    particle_ids: Sequence[int],
    scores: Sequence[float] | np.ndarray | None = None,
    predicted_ious: Sequence[float] | np.ndarray | None = None,
) -> list[dict[str, float | int | bool]]:
    """Measure the masks of every object on one frame.

    Parameters
    ----------
    masks
        Boolean array (n_objects, H, W) at input resolution.
    frame
        Frame index written into every row.
    particle_ids
        Particle id of each mask, in order.
    scores
        Optional per-object mask score (the tracker writes SAM 2's object-presence probability); NaN if absent.
    predicted_ious
        Optional per-object IoU of the mask with the particle as the model predicts it (SAM 2's IoU head); NaN if
        absent. A low value marks a doubtful position (``samem analyze --min-iou``).

    Returns
    -------
    list of dict
        One row per object with the keys of :data:`MEASUREMENT_COLUMNS`.
    """
    if masks.ndim != 3 or masks.shape[0] != len(particle_ids):
        raise ValueError(f"masks of shape {masks.shape} do not match {len(particle_ids)} particle ids")
    rows = []
    for index, particle in enumerate(particle_ids):
        scored = {"mask_score": float(scores[index]) if scores is not None else float("nan"),
                  "predicted_iou": float(predicted_ious[index]) if predicted_ious is not None else float("nan")}
        component, count = largest_component(masks[index])
        row: dict[str, float | int | bool] = {"frame": int(frame), "particle": int(particle)}
        if count == 0:
            row |= {column: float("nan") for column in MEASUREMENT_COLUMNS[2:9]}
            row |= {"area_px": 0.0, **scored, "present": False, "n_fragments": 0, "at_edge": False}
        else:
            row |= shape_moments(component) | scored | {"present": True, "n_fragments": count}
            row["at_edge"] = touches_border(component)
        rows.append(row)
    return rows


def mask_box(mask: np.ndarray) -> tuple[float, float, float, float]:
    """The box (x0, y0, x1, y1) enclosing the pixels of a non-empty mask, at pixel edges (input pixels).

    This is the box a user draws around a particle; prompts in these coordinates go to ``samem track --box``.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("an empty mask has no box")
    return float(cols[0] - 0.5), float(rows[0] - 0.5), float(cols[-1] + 0.5), float(rows[-1] + 0.5)


def label_boxes(labels: np.ndarray) -> dict[int, tuple[float, float, float, float]]:
    """``{object id: box}`` (:func:`mask_box`) of every object of a label frame (0 = background), by id."""
    return {int(k): mask_box(labels == k) for k in np.unique(labels) if k != 0}
