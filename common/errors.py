"""Errors that mean "the user's input is wrong", as opposed to a bug in the code.

Entry scripts catch these and print one clear line instead of a traceback, so each
message must name the problem and, where it helps, what was expected.
"""


class ConfigError(ValueError):
    """A bad config key, value, preset, model path or device request."""


class DataError(ValueError):
    """A missing, malformed or inconsistent data file, split or label."""


def describe(exc: BaseException) -> str:
    """`Type: first line of the message`, for one-line errors that wrap a library's exception."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
