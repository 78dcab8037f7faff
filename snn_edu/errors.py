"""Errors that snn_edu raises with a one-line, actionable message."""


class SnnEduError(Exception):
    """Base class: the CLI prints these as a single line, without a traceback."""


class ConfigError(SnnEduError, ValueError):
    """An unknown name or an impossible setting (model, strategy, schedule, shape)."""


class DataError(SnnEduError):
    """A data set is missing, unreadable or malformed."""


class CheckpointError(SnnEduError):
    """A checkpoint is missing, corrupted or belongs to a different configuration."""


class DivergenceError(SnnEduError):
    """The training loss became NaN or infinite."""


def first_line(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
