"""The service's errors and their gRPC status codes, mapped in one place (:func:`status_of`)."""

from __future__ import annotations

import grpc
import kombu.exceptions
import redis

from samem.errors import InputError, SamemError


class ServiceError(SamemError):
    """Root of the errors the service answers with a status code."""

    code = grpc.StatusCode.INTERNAL


class Unauthenticated(ServiceError):
    """No bearer token, or one nobody holds."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(ServiceError):
    """The user is known but may not do this (e.g. list all users' videos without the admin role)."""

    code = grpc.StatusCode.PERMISSION_DENIED


class NotFound(ServiceError):
    """No such id for this user (ids of other users answer the same)."""

    code = grpc.StatusCode.NOT_FOUND


class ResourceExhausted(ServiceError):
    """A size limit or a quota is exceeded."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(ServiceError):
    """The request is valid but the object is in the wrong state (e.g. trajectories of an unfinished job)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class ModelUnavailable(FailedPrecondition):
    """An offered model that the workers' backend cannot run (a Triton server serves one model only)."""


class OutOfRange(ServiceError):
    """An index past the end of what exists (e.g. a frame of a shorter video)."""

    code = grpc.StatusCode.OUT_OF_RANGE


def status_of(error: BaseException) -> tuple[grpc.StatusCode, str] | None:
    """The status code and message for an error a request caused, or None for a bug (answered INTERNAL)."""
    if isinstance(error, ServiceError):
        return error.code, str(error)
    if isinstance(error, InputError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(error)
    if isinstance(
        error, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError | kombu.exceptions.OperationalError
    ):
        return grpc.StatusCode.UNAVAILABLE, f"the service's Redis is unreachable, try again later ({error})"
    return None
