"""A run folder's ownership: one process writes there at a time, and never over another run by
accident (a plain run stops; --resume continues; --overwrite replaces)."""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

from .errors import SnnEduError

try:
    import fcntl
except ImportError:  # Windows: no OS lock, the folder check below still holds
    fcntl = None

LOCK = ".snn_edu.lock"
RUN_FILES = ("metrics.json", "checkpoint.pt", "history.pt", "model.pt")
_held: dict[Path, list] = {}  # folder -> [open lock file, depth]: this process may nest its own locks


class FolderInUseError(SnnEduError):
    """Another process holds the run folder."""


class RunExistsError(SnnEduError):
    """The folder already holds a run and neither --resume nor --overwrite was given."""


@contextmanager
def folder_lock(folder: str | Path):
    """Hold an exclusive OS lock on `folder` (created if needed) for the block. The OS releases it
    when the process dies, so a killed run never leaves a stale lock."""
    folder = Path(folder).resolve()
    if folder in _held:
        _held[folder][1] += 1
        try:
            yield folder
        finally:
            _held[folder][1] -= 1
        return
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            raise FolderInUseError(f"{folder} is in use by another run{f' (process {other})' if other else ''}; "
                                   "wait for it to finish or use another --out") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    _held[folder] = [fd, 1]
    try:
        yield folder
    finally:
        del _held[folder]
        os.close(fd)  # closing releases the lock


def describe(folder: str | Path) -> str | None:
    """What run `folder` holds, in a few words (None when it holds none)."""
    folder = Path(folder)
    present = [name for name in RUN_FILES if (folder / name).exists()]
    if not present:
        return None
    try:
        m = json.loads((folder / "metrics.json").read_text())
        c = m["config"]
        acc = "" if m.get("test_accuracy") is None else f", test accuracy {m['test_accuracy']:.2f} %"
        return f"a finished run ({c['model']} seed {c['seed']}, {m['epochs']} of {c['epochs']} epochs{acc})"
    except (OSError, ValueError, KeyError, TypeError):
        return f"an unfinished or unreadable run ({', '.join(present)})"


def claim(folder: str | Path, resume: bool = False, overwrite: bool = False) -> None:
    """Check that a run may write into `folder` (call it holding the lock): a folder holding a
    run needs --resume (continue it) or --overwrite (its run files are deleted here)."""
    if resume and overwrite:
        raise SnnEduError("--resume and --overwrite exclude each other: continue the run, or replace it")
    held = describe(folder)
    if held is None or resume:
        return
    if not overwrite:
        raise RunExistsError(f"{folder} already holds {held}: --resume continues it, --overwrite replaces it")
    for name in RUN_FILES:
        (Path(folder) / name).unlink(missing_ok=True)
