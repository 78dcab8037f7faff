"""Facts about the machine a run happens on: usable cores, CPU model, the code's git commit."""
from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

BF16_FLAGS = ("amx_bf16", "amx_tile", "avx512_bf16")
# the CPU features that choose which kernels PyTorch runs (and so the order of each sum): runs
# regenerate exactly only on a CPU with the same model name and the same of these flags
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16",
              "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve")


def available_cpus() -> int:
    """Cores this process may use: its CPU affinity, capped by a container's CPU quota."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _cgroup_quota()
    return max(1, min(cores, quota) if quota else cores)


def _cgroup_quota() -> int | None:
    """The CPU quota in whole cores (rounded up), or None when there is none."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]  # cgroup v2
        if quota != "max":
            return -(-int(quota) // int(period))
    except (OSError, ValueError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())  # cgroup v1
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if quota > 0:
            return -(-quota // period)
    except (OSError, ValueError):
        pass
    return None


def _cpuinfo() -> dict[str, str]:
    info = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return info


def cpu_model() -> str:
    """The CPU's model name, e.g. 'AMD EPYC' or 'Intel(R) Xeon(R) Platinum 8480+'."""
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def cpu_bf16_flags() -> list[str]:
    """Which of the bf16-related CPU flags (AMX, AVX512-BF16) this CPU has."""
    flags = set(_cpuinfo().get("flags", "").split())
    return [f for f in BF16_FLAGS if f in flags]


def cpu_simd_flags() -> list[str]:
    """Which of SIMD_FLAGS this CPU has."""
    flags = set(_cpuinfo().get("flags", _cpuinfo().get("features", "")).split())
    return [f for f in SIMD_FLAGS if f in flags]


def same_cpu_kind(recorded: dict, here: dict | None = None) -> bool:
    """Whether a run's recorded provenance names the same kind of CPU as `here` (default: this
    machine): the same model name, the same SIMD flags (or, for runs recorded before those were
    kept, the same bf16 flags) and the same number of threads."""
    here = here or provenance()
    key = "cpu_simd_flags" if "cpu_simd_flags" in recorded else "cpu_bf16_flags"
    return (recorded.get("cpu") == here.get("cpu") and recorded.get(key) == here.get(key)
            and recorded.get("threads") == here.get("threads"))


def git_commit(path: str | Path | None = None) -> tuple[str | None, bool | None]:
    """(HEAD commit, whether tracked files under `path` differ from it); `path` defaults to this
    package's source folder. (None, None) outside a git checkout."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        def git(*args):
            return subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True,
                                  timeout=10, check=True).stdout.strip()
        return git("rev-parse", "HEAD"), bool(git("status", "--porcelain", "--untracked-files=no", "--", "."))
    except (OSError, subprocess.SubprocessError):
        return None, None


def provenance() -> dict:
    """Where and when a measurement ran: CPU (its bf16 and SIMD flags), threads, torch, python,
    snn_edu, the git commit (and whether the code differed from it) and the UTC date."""
    import torch

    from .version import __version__

    commit, dirty = git_commit()
    return {"threads": torch.get_num_threads(), "cpu": cpu_model(), "cpu_bf16_flags": cpu_bf16_flags(),
            "cpu_simd_flags": cpu_simd_flags(),
            "torch": torch.__version__, "python": platform.python_version(), "snn_edu": __version__,
            "git_commit": commit, "git_dirty": dirty,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB."""
    import resource

    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> float:
    """Start the peak resident set from here (where Linux allows it); returns it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return peak_rss_mb()
