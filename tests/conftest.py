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
