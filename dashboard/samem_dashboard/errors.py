"""Turning every failure into one plain sentence for the page: gRPC status codes, bad files, anything else.

This is the dashboard's only error boundary: pages run inside :func:`shown_errors`, so a user never sees a
traceback. Streamlit's own control flow (rerun, stop) derives from ``BaseException`` and passes through.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import grpc
import streamlit as st

from samem.client import ClientError
from samem.errors import InputError, SamemError

log = logging.getLogger(__name__)

#: What each status code means to someone who does not know gRPC; ``{details}`` is the server's own message.
SENTENCES: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.UNAUTHENTICATED: (
        "The service did not accept your token: it is wrong or has expired. Sign in again with a valid token, "
        "or ask the facility staff for a new one."
    ),
    grpc.StatusCode.PERMISSION_DENIED: "Your token does not allow this: {details}",
    grpc.StatusCode.NOT_FOUND: "Not found (it may have been deleted): {details}",
    grpc.StatusCode.INVALID_ARGUMENT: "The service could not accept this request: {details}",
    grpc.StatusCode.FAILED_PRECONDITION: "Not possible yet: {details}",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "A limit was reached: {details}",
    grpc.StatusCode.UNAVAILABLE: (
        "The tracking service at {address} cannot be reached. It may be down or restarting; try again in a "
        "minute, and tell the facility staff if it persists."
    ),
    grpc.StatusCode.DEADLINE_EXCEEDED: "The tracking service at {address} did not answer in time; try again.",
    grpc.StatusCode.UNIMPLEMENTED: "This tracking service does not offer that yet: {details}",
    grpc.StatusCode.CANCELLED: "The request was cancelled before it finished; try again.",
    grpc.StatusCode.INTERNAL: "The tracking service failed on this request: {details}",
}


def describe(error: BaseException, *, address: str = "the configured address") -> str:
    """One sentence saying what went wrong and what to do, without a traceback."""
    if isinstance(error, ClientError):
        code, details = error.code, error.details
    elif isinstance(error, grpc.RpcError) and hasattr(error, "code"):
        code, details = error.code(), error.details() or ""  # type: ignore[attr-defined]
    elif isinstance(error, InputError):
        return f"This input cannot be used: {_first_line(error)}"
    elif isinstance(error, SamemError):
        return f"samem could not do this: {_first_line(error)}"
    elif isinstance(error, TimeoutError):
        return f"Gave up waiting: {_first_line(error)}"
    elif isinstance(error, OSError):
        return f"A file could not be read or written: {error.strerror or _first_line(error)}"
    else:
        return f"Something went wrong ({type(error).__name__}: {_first_line(error)}). Please tell the facility staff."
    template = SENTENCES.get(code, "The tracking service answered {code}: {details}")
    details = _first_line(details) or "no details given"
    return template.format(details=details.rstrip("."), address=address, code=code.name) + (
        "." if "{details}" in template and not template.endswith(".") else ""
    )


def _first_line(error: object) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


@contextlib.contextmanager
def shown_errors(address: str = "the configured address") -> Iterator[None]:
    """Show any exception raised inside as an ``st.error`` sentence (and log it), then carry on."""
    try:
        yield
    except Exception as error:  # the boundary: nothing below may show a traceback
        log.warning("dashboard error: %s", error, exc_info=not isinstance(error, ClientError | SamemError))
        st.error(describe(error, address=address), icon=":material/error:")
