"""`torch.compile` for the switchers, with inductor's on-disk cache in a folder that outlives /tmp.

The first run on a machine compiles (tens of seconds per switcher shape and phase); later runs
read the compiled kernels from the cache and start in seconds.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from .errors import ConfigError
from .switcher import Switcher

CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"
# graphs per switcher: TNN phase, switcher phase, evaluation gate, training-mode gate without grad,
# each per precision; a model has up to four switcher shapes
RECOMPILE_LIMIT = 64


def _torch_default() -> str | None:
    """The /tmp folder torch falls back to (torch writes it into the environment itself once an
    optimiser exists, so an environment value equal to it was not set by the user)."""
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir
        return default_cache_dir()
    except (ImportError, AttributeError):
        return None


def cache_dir() -> Path:
    """Where inductor keeps compiled kernels for --compile: $TORCHINDUCTOR_CACHE_DIR when the user
    set it, else ~/.cache/snn_edu/inductor (torch's own default lives in /tmp)."""
    value = os.environ.get(CACHE_ENV)
    if value and value != _torch_default():
        return Path(value)
    return Path.home() / ".cache" / "snn_edu" / "inductor"


def compile_switchers(model: torch.nn.Module, device: torch.device) -> int:
    """Compile every switcher U-Net in `model` in place (state_dict keys unchanged); returns how many.

    On the CPU inductor needs a C++ compiler; without one this raises a one-line ConfigError
    before any training starts.
    """
    if device.type == "cpu" and not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
        raise ConfigError("--compile needs a C++ compiler on the CPU (c++, g++ or clang++ on the PATH); "
                          "install one or train without --compile")
    os.environ[CACHE_ENV] = str(cache_dir())
    import torch._dynamo.config as dynamo

    dynamo.recompile_limit = max(dynamo.recompile_limit, RECOMPILE_LIMIT)
    switchers = [m for m in model.modules() if isinstance(m, Switcher)]
    for switcher in switchers:
        switcher.compile()
    return len(switchers)
