"""The package's exception tree: one root, narrow subclasses.

Every error a user can cause by bad input is an :class:`InputError`; the CLI turns it into a one-line message and
exit code 2, later the gRPC service into ``INVALID_ARGUMENT``.
"""


class SamemError(Exception):
    """Root of every error raised on purpose by samem."""


class InputError(SamemError, ValueError):
    """The caller gave something unusable: a bad file, a bad value, a bad combination of options."""


class OutputError(SamemError, OSError):
    """An output location cannot be written."""
