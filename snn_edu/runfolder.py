"""A run's folder and its files: one owner at a time (an OS lock), never another run overwritten by
accident, each epoch saved as one unit (a small record, then the checkpoint that covers it),
signals that stop a run between saves, and metrics.json.

Layout: checkpoint.pt (the training state; it names how many epoch records it covers),
epochs/0000.pt, epochs/0001.pt, ... (one record per finished epoch), metrics.json (written when
the run ends). A save costs the same at epoch 100 as at epoch 1, and the folder always holds
everything of one epoch: a record beyond what the checkpoint covers is ignored and rewritten.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import signal
import threading
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

import torch

from .errors import CheckpointError, DataError, SnnEduError

try:
    import fcntl
except ImportError:  # Windows: no OS lock, the folder check below still holds
    fcntl = None

LOCK = ".snn_edu.lock"
CHECKPOINT = "checkpoint.pt"
RECORDS = "epochs"
METRICS = "metrics.json"
HISTORY = "history.pt"  # a finished study run's compact history; before layout 2, the whole history
LAYOUT = 2              # checkpoints without a layout are the older one: history.pt rewritten every epoch
RUN_FILES = (METRICS, CHECKPOINT, HISTORY, "model.pt", RECORDS)
FIXED = " once the cause is fixed"
_held: dict[Path, list] = {}  # folder -> [open lock file, depth]: this process may nest its own locks


class FolderInUseError(SnnEduError):
    """Another process holds the run folder."""


class RunExistsError(SnnEduError):
    """The folder already holds a run and neither --resume nor --overwrite was given."""


class SaveError(SnnEduError):
    """A write into the run folder failed; the folder still holds its last good epoch."""


class RunStopped(SnnEduError):
    """SIGINT or SIGTERM stopped the run between saves."""

    def __init__(self, message: str, signal_name: str = "SIGINT"):
        super().__init__(message)
        self.signal_name = signal_name

    @property
    def exit_code(self) -> int:
        return 128 + int(signal.Signals[self.signal_name])


# -- ownership ------------------------------------------------------------------------------------
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
    present = [name for name in RUN_FILES if (folder / name).is_file()]  # records alone: a first save cut short
    if not present:
        return None
    try:
        m = json.loads((folder / METRICS).read_text())
        c = m["config"]
        acc = "" if m.get("test_accuracy") is None else f", test accuracy {m['test_accuracy']:.2f} %"
        return f"a finished run ({c['model']} seed {c['seed']}, {m['epochs']} of {c['epochs']} epochs{acc})"
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        state = read_file(folder / CHECKPOINT)
        c = state["config"]
        return f"an unfinished run ({c['model']} seed {c['seed']}, {state['epoch']} of {c['epochs']} epochs saved)"
    except (SnnEduError, KeyError, TypeError):
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
        path = Path(folder) / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


# -- files ----------------------------------------------------------------------------------------
def _store(path: Path, data: memoryview) -> None:
    """Write `data` to `path` and make it durable (the one place that writes bytes; tests fail it)."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_file(obj, path: str | Path) -> None:
    """torch.save `obj` to `path` atomically: the old file or the new one, never half of either,
    and no temporary file left behind when the write fails (OSError, signal, anything)."""
    path = Path(path)
    buffer = io.BytesIO()
    torch.save(obj, buffer)  # serialised in memory, so a full disk surfaces as a plain OSError below
    tmp = path.with_name(path.name + ".tmp")
    try:
        _store(tmp, buffer.getbuffer())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_file(path: str | Path) -> dict:
    """torch.load with weights_only=True and a one-line CheckpointError on any failure."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}; train without --resume first")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupted, truncated or not a torch file
        raise CheckpointError(f"cannot read {path} ({type(exc).__name__}): the file is corrupted or not "
                              "an snn_edu checkpoint; delete it or use a fresh --out") from None


def read_metrics(folder: str | Path) -> dict:
    path = Path(folder) / METRICS
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"no finished run in {folder} ({METRICS} is missing)") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None


def write_metrics(folder: str | Path, metrics: dict) -> Path:
    """Write `metrics` as FOLDER/metrics.json atomically, creating the folder; returns its path."""
    path = Path(folder) / METRICS
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(METRICS + ".tmp")
    try:
        _store(tmp, memoryview((json.dumps(metrics, indent=2) + "\n").encode()))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _reason(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__


def check_config(saved: dict, config, may_differ: set[str], folder: Path):
    """The saved config as `config`'s dataclass; a CheckpointError naming the first setting that
    differs from `config` (outside `may_differ`)."""
    try:
        saved = type(config)(**saved)
    except (TypeError, SnnEduError) as exc:
        raise CheckpointError(f"checkpoint in {folder} holds a configuration this snn_edu cannot read "
                              f"({str(exc).splitlines()[0]}); use a fresh --out") from None
    for f in fields(config):
        if f.name not in may_differ and getattr(saved, f.name) != getattr(config, f.name):
            raise CheckpointError(f"checkpoint in {folder} was trained with {f.name}="
                                  f"{getattr(saved, f.name)!r}, not {getattr(config, f.name)!r}")
    return saved


class RunFolder:
    """The files of one training run; a trainer hands it state and records, it keeps them safe."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.saved = 0          # epoch records the checkpoint on disk covers
        self._legacy = False    # loaded from the older layout: history.pt goes once records exist

    @contextmanager
    def owned(self, resume: bool = False, overwrite: bool = False):
        """Hold the folder's lock for the block, after checking that this run may write there."""
        with folder_lock(self.path):
            claim(self.path, resume, overwrite)
            yield self

    def where(self, when: str = "") -> str:
        """The folder's last good epoch and how to go on from it (`when`: the condition, if any)."""
        if self.saved == 0:
            return f"nothing is saved in {self.path} yet: run it again{when}"
        held = "epoch 0" if self.saved == 1 else f"epochs 0-{self.saved - 1}"
        return f"the last good epoch is {self.saved - 1} ({self.path} holds {held}): --resume continues from it{when}"

    def _record(self, index: int) -> Path:
        return self.path / RECORDS / f"{index:04d}.pt"

    def save(self, state: dict, records: list[dict]) -> None:
        """Save the records not yet on disk, then the checkpoint naming how many it covers.
        On failure the records of this save are removed again and SaveError says what is kept."""
        written, target = [], None
        with _signals_deferred():
            try:
                (self.path / RECORDS).mkdir(parents=True, exist_ok=True)
                for i in range(0 if self._legacy else self.saved, len(records)):
                    target = self._record(i)
                    write_file(records[i], target)
                    written.append(target)
                target = self.path / CHECKPOINT
                write_file({**state, "layout": LAYOUT, "records": len(records)}, target)
            except BaseException as exc:
                for path in written:
                    path.unlink(missing_ok=True)
                if isinstance(exc, OSError):
                    raise SaveError(f"could not save epoch {len(records) - 1}: writing {target or self.path / RECORDS} "
                                    f"failed ({_reason(exc)}); {self.where(FIXED)}") from None
                raise
            self.saved = len(records)
            if self._legacy:
                (self.path / HISTORY).unlink(missing_ok=True)
                self._legacy = False

    def load(self, config, may_differ: set[str]) -> tuple[dict, list[dict]]:
        """The saved training state and the epoch records its checkpoint covers, after checking
        that `config` may continue it."""
        state = read_file(self.path / CHECKPOINT)
        if not isinstance(state, dict) or "config" not in state or "epoch" not in state:
            raise CheckpointError(f"{self.path / CHECKPOINT} is not an snn_edu checkpoint; use a fresh --out")
        check_config(state["config"], config, may_differ, self.path)
        records = self._covered(state)
        self.saved, self._legacy = state["epoch"], "layout" not in state
        return state, records

    def records(self) -> list[dict]:
        """The epoch records the checkpoint covers (any layout), without checking a config."""
        return self._covered(read_file(self.path / CHECKPOINT))

    def _covered(self, state: dict) -> list[dict]:
        layout = state.get("layout", 1)
        if layout > LAYOUT:
            raise CheckpointError(f"{self.path} was written by a newer snn_edu (layout {layout}); update snn_edu "
                                  "to resume it")
        return self._legacy_records(state["epoch"]) if layout == 1 else self._read_records(state["records"])

    def _legacy_records(self, epochs: int) -> list[dict]:
        if not (self.path / HISTORY).exists():
            raise CheckpointError(f"{self.path} is too old to resume: its checkpoint comes without epoch "
                                  f"records or a {HISTORY}; use a fresh --out")
        records = list(read_file(self.path / HISTORY)["epochs"])
        if len(records) != epochs:
            raise CheckpointError(f"{self.path} is too old to resume: its {HISTORY} holds {len(records)} epochs "
                                  f"but its checkpoint {epochs} (older snn_edu saved them apart); use a fresh --out")
        return records

    def _read_records(self, count: int) -> list[dict]:
        missing = [self._record(i).name for i in range(count) if not self._record(i).exists()]
        if missing:
            raise CheckpointError(f"{self.path / RECORDS} lacks {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}"
                                  f", which its checkpoint covers (deleted by hand?); use a fresh --out")
        return [read_file(self._record(i)) for i in range(count)]

    def write_metrics(self, metrics: dict) -> Path:
        """metrics.json, atomically; a failure says that every epoch is kept."""
        try:
            return write_metrics(self.path, metrics)
        except OSError as exc:
            raise SaveError(f"could not write {self.path / METRICS} ({_reason(exc)}); {self.where(FIXED)}") from None


# -- signals ----------------------------------------------------------------------------------------
class _SignalState(threading.local):
    saving = False
    pending: str | None = None


_signals = _SignalState()


@contextmanager
def _signals_deferred():
    """A signal that arrives during the block stops the run only once the block is done."""
    _signals.saving = True
    try:
        yield
    finally:
        _signals.saving = False
    if _signals.pending:
        name, _signals.pending = _signals.pending, None
        raise RunStopped(name, name)


@contextmanager
def stopping_on_signals(budget_seconds: float | None = None):
    """Turn SIGINT and SIGTERM into RunStopped for the block (main thread only; elsewhere nothing
    changes), so that a scheduler's stop ends a run between saves, without a traceback; with
    `budget_seconds`, SIGALRM after that long stops it the same way (a time budget)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        name = signal.Signals(signum).name
        if _signals.saving:
            _signals.pending = name
        else:
            raise RunStopped(name, name)

    watched = (signal.SIGINT, signal.SIGTERM) + ((signal.SIGALRM,) if budget_seconds else ())
    previous = {s: signal.signal(s, stop) for s in watched}
    if budget_seconds:
        signal.setitimer(signal.ITIMER_REAL, budget_seconds)
    try:
        yield
    finally:
        if budget_seconds:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for s, handler in previous.items():
            signal.signal(s, handler)

