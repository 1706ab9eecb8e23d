"""The Triton python-backend model of one engine step; the generated ``model.py`` files import it.

Only importable inside Triton's python backend stub (it imports ``triton_python_backend_utils``). The config is
parsed once in ``initialize``: the step, and the model (spec, size, checkpoint hash) recorded by
:func:`samem.serving.repository.write_repository`; the checkpoint's SHA-256 is checked before serving. ``execute``
returns one response per request and attaches errors to the response instead of raising. Requests to
``encode_frame`` arrive dynamically batched (frames of several videos) and run as one batch.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import torch
import triton_python_backend_utils as pb_utils
from torch.utils.dlpack import to_dlpack

from samem.model import build_model
from samem.serving.spec import DTYPES, MODEL_KEY, STEP_KEY, ServedModel, step_tensors
from samem.serving.step_runner import StepRunner

log = logging.getLogger(__name__)


def _input(tensor: Any) -> torch.Tensor:
    """A request tensor through DLPack.

    The backend's own ``as_numpy`` and ``Tensor(name, array)`` are built against numpy 1's ABI: under numpy 2 they
    read inputs wrongly and send outputs empty (seen on a GPU machine with numpy 2.5); numpy has no bfloat16.
    """
    return torch.from_dlpack(tensor.to_dlpack())


def _output(name: str, tensor: torch.Tensor) -> Any:
    """A response tensor through DLPack (see :func:`_input`)."""
    return pb_utils.Tensor.from_dlpack(name, to_dlpack(tensor.contiguous()))


class TritonPythonModel:
    """One of :data:`samem.serving.spec.ALL_STEPS` with PyTorch."""

    def initialize(self, args: dict[str, Any]) -> None:
        """Build the recorded model once and check its checkpoint's hash."""
        config = json.loads(args["model_config"])
        params = {key: value["string_value"] for key, value in config["parameters"].items()}
        self.step = params[STEP_KEY]
        served = ServedModel.from_json(params[MODEL_KEY])
        loaded = build_model(served.spec, image_size=served.settings.image_size, seed=served.seed, device=served.device)
        if loaded.checkpoint_sha256 != served.checkpoint_sha256:
            raise ValueError(
                f"checkpoint of {served.spec!r} has SHA-256 {loaded.checkpoint_sha256}, the repository was exported"
                f" for {served.checkpoint_sha256}; re-run `samem export`"
            )
        self.runner = StepRunner(loaded.model, self.step, precision=served.precision)
        inputs, outputs = step_tensors(self.step, served, "python")
        self.input_names = [t.name for t in inputs]
        self.output_dtypes = {t.name: DTYPES[t.dtype].torch for t in outputs}

    def _inputs(self, request: Any) -> dict[str, torch.Tensor]:
        return {name: _input(pb_utils.get_input_tensor_by_name(request, name)) for name in self.input_names}

    def _response(self, outputs: dict[str, torch.Tensor], requested: list[str]) -> Any:
        names = requested or list(self.output_dtypes)
        tensors = [_output(n, outputs[n].to(self.output_dtypes[n])) for n in names]
        return pb_utils.InferenceResponse(output_tensors=tensors)

    @staticmethod
    def _error(error: Exception) -> Any:
        return pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(f"{error}"))

    def execute(self, requests: list[Any]) -> list[Any]:
        """One response per request, in order."""
        if self.step == "encode_frame":
            return self._encode_batch(requests)
        responses = []
        for request in requests:
            try:
                outputs = self.runner(self._inputs(request))
                responses.append(self._response(outputs, request.requested_output_names()))
            except Exception as e:  # a bad request must not take the model down
                log.warning("%s: %s", self.step, e)
                responses.append(self._error(e))
        return responses

    def _encode_batch(self, requests: list[Any]) -> list[Any]:
        """Encode every request's frames in one batch, then split the outputs back per request."""
        try:
            images = [self._inputs(request)["image"] for request in requests]
            outputs = self.runner({"image": torch.cat(images)})
        except Exception as e:
            log.warning("%s: %s", self.step, e)
            return [self._error(e) for _ in requests]
        responses, start = [], 0
        for request, image in zip(requests, images, strict=True):
            part = {name: value[start : start + len(image)] for name, value in outputs.items()}
            responses.append(self._response(part, request.requested_output_names()))
            start += len(image)
        return responses
