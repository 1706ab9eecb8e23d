"""Evaluation of predicted segmentation tracks against ground truth (e.g. the simulator's ``gt_masks.tif``).

Families, one module each: DAVIS region/boundary measures J, F, J&F and Dice (:mod:`~samem.evaluate.segmentation`),
CLEAR MOT detection matching with recall, precision, ID switches, MOTA and centroid RMSE
(:mod:`~samem.evaluate.clear`), IDF1 (:mod:`~samem.evaluate.identity`), HOTA with DetA/AssA/LocA
(:mod:`~samem.evaluate.hota`), centroid RMSE from trajectory tables (:mod:`~samem.evaluate.centroids`), and
:func:`evaluate_video`, which returns all of them. Inputs are label stacks ``T x H x W`` (0 = background) whose
ids need not agree; coordinates follow :mod:`samem.measure` (x = column, y = row, pixel centres at integers).
"""

from samem.evaluate.centroids import centroid_rmse_from_tables
from samem.evaluate.clear import clear_scores, match_frames
from samem.evaluate.hota import hota_from_similarity, hota_scores
from samem.evaluate.identity import identity_scores
from samem.evaluate.labels import check_label_stacks, frame_overlap, stack_overlaps
from samem.evaluate.segmentation import (
    assign_objects,
    boundary_f,
    boundary_precision_recall,
    boundary_tolerance,
    dice,
    jaccard,
    mask_boundary,
    segmentation_scores,
)
from samem.evaluate.video import evaluate_video

__all__ = [
    "assign_objects", "boundary_f", "boundary_precision_recall", "boundary_tolerance", "centroid_rmse_from_tables",
    "check_label_stacks", "clear_scores", "dice", "evaluate_video", "frame_overlap", "hota_from_similarity",
    "hota_scores", "identity_scores", "jaccard", "mask_boundary", "match_frames", "segmentation_scores",
    "stack_overlaps",
]
