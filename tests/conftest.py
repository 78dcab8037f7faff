import os
import sys

import pytest
import torch

from snn_edu.data import load_dataset, subset
from snn_edu.machine import available_cpus

# `make test` runs the suite on pytest-xdist's workers, one per usable core: each worker, and
# every process it starts (CLI runs, notebook kernels), gets its share of the cores, so that no
# two busy processes fight over one core. Run alone, a process uses up to 2 threads.
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
THREADS = max(1, min(2, available_cpus() // WORKERS))
torch.set_num_threads(THREADS)
if WORKERS > 1:  # inductor, too, compiles in this worker's share (no pool of compile processes)
    os.environ.update({name: str(THREADS) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                       "TORCHINDUCTOR_COMPILE_THREADS")})


@pytest.fixture(autouse=True)
def _close_figures():
    """Every test's figures are closed after it, so that a worker never holds dozens open."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt
        plt.close("all")


# The longest files first, so that no worker starts one of them when the others are nearly done.
LONGEST_FIRST = ("test_compiled.py", "test_browser.py", "test_book.py", "test_slurm.py", "test_study.py",
                 "test_saving.py", "test_nets.py", "test_peers.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def pytest_xdist_auto_num_workers(config):
    """`-n auto`: one worker per core this process may use (its affinity and CPU quota)."""
    return available_cpus()


@pytest.fixture(scope="session")
def mnist5k():
    """The offline 4,000 / 1,000 MNIST split."""
    return load_dataset("mnist5k")


@pytest.fixture(scope="session")
def tiny(mnist5k):
    """512 training and 200 test digits, for runs of a few steps."""
    train, test = mnist5k
    return subset(train, 512, seed=1), subset(test, 200, seed=1)
