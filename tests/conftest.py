import pytest
import torch

from snn_edu.data import load_dataset, subset

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def mnist5k():
    """The offline 4,000 / 1,000 MNIST split."""
    return load_dataset("mnist5k")


@pytest.fixture(scope="session")
def tiny(mnist5k):
    """512 training and 200 test digits, for runs of a few steps."""
    train, test = mnist5k
    return subset(train, 512, seed=1), subset(test, 200, seed=1)


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory):
    """The book built at smoke level through the CLI, as `make book` and CI build it."""
    import json
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("book") / "site"
    done = subprocess.run([sys.executable, "-m", "snn_edu", "book", "--level", "smoke", "--out", str(out),
                           "--timeout", "300"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, json.loads((out / "build.json").read_text())
