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


def cache_dir() -> Path:
    """Where inductor keeps compiled kernels: $TORCHINDUCTOR_CACHE_DIR, else ~/.cache/snn_edu/inductor."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "snn_edu" / "inductor")


def compile_switchers(model: torch.nn.Module, device: torch.device) -> int:
    """Compile every switcher U-Net in `model` in place (state_dict keys unchanged); returns how many.

    On the CPU inductor needs a C++ compiler; without one this raises a one-line ConfigError
    before any training starts.
    """
    if device.type == "cpu" and not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
        raise ConfigError("--compile needs a C++ compiler on the CPU (c++, g++ or clang++ on the PATH); "
                          "install one or train without --compile")
    os.environ.setdefault(CACHE_ENV, str(cache_dir()))
    import torch._dynamo.config as dynamo

    dynamo.recompile_limit = max(dynamo.recompile_limit, RECOMPILE_LIMIT)
    switchers = [m for m in model.modules() if isinstance(m, Switcher)]
    for switcher in switchers:
        switcher.compile()
    return len(switchers)
