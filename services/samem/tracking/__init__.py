"""Tracking a video file end to end: prompts, the engine, measurements and outputs (``samem track``).

Owns the orchestration of one offline tracking run on this machine; the engine owns SAM 2's rules and the
``results`` package the files.
"""

from samem.tracking.api import TrackResult, track
from samem.tracking.prompts import PromptSpec, parse_box, parse_point, read_prompt_file

__all__ = ["PromptSpec", "TrackResult", "parse_box", "parse_point", "read_prompt_file", "track"]
