"""The colour data sets, read from small folders in their real on-disk formats (never downloaded)."""
import pickle

import numpy as np
import pytest
import torch

from snn_edu.cli import main
from snn_edu.data import download_dataset, load_dataset
from snn_edu.errors import DataError
from snn_edu.images import load_image_folder


def write_cifar(root, name="cifar10", n_train=20, n_test=10, classes=10, seed=0):
    """CIFAR's python pickles as the official archive unpacks them; returns (train, test) arrays."""
    rng = np.random.default_rng(seed)
    folder, key, meta, meta_key, train_files, test_file = (
        ("cifar-10-batches-py", "labels", "batches.meta", "label_names", [f"data_batch_{i}" for i in range(1, 6)],
         "test_batch") if name == "cifar10" else
        ("cifar-100-python", "fine_labels", "meta", "fine_label_names", ["train"], "test"))
    base = root / folder
    base.mkdir(parents=True)
    arrays = {}
    per_file = [(f, n_train // len(train_files)) for f in train_files] + [(test_file, n_test)]
    for file, n in per_file:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, classes, n)]
        with open(base / file, "wb") as f:
            pickle.dump({"data": data, key: labels}, f)
        arrays[file] = (data, labels)
    with open(base / meta, "wb") as f:
        pickle.dump({meta_key: [f"class{i}" for i in range(classes)]}, f)
    return arrays, train_files, test_file


@pytest.mark.parametrize("name, classes", [("cifar10", 10), ("cifar100", 100)])
def test_cifar_is_read_by_torchvisions_class(tmp_path, name, classes):
    arrays, train_files, test_file = write_cifar(tmp_path, name, classes=classes)
    train, test = load_dataset(name, root=tmp_path)
    x, y = train.tensors
    assert x.dtype == torch.uint8 and tuple(x.shape) == (20, 3, 32, 32) and len(test.tensors[1]) == 10
    first, labels = arrays[train_files[0]]
    # CIFAR stores each image as 1,024 red, then green, then blue values, row by row
    assert torch.equal(x[0], torch.from_numpy(first[0].reshape(3, 32, 32)))
    assert y[: len(labels)].tolist() == labels
    assert test.tensors[1].tolist() == arrays[test_file][1]


def test_missing_cifar_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match=r"CIFAR-10 not found under .*; run 'python -m snn_edu data download cifar10'"):
        load_dataset("cifar10", root=tmp_path)


def test_download_without_network_is_one_line(tmp_path, monkeypatch, capsys):
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network here")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setenv("SNN_EDU_DATA", str(tmp_path))
    assert main(["data", "download", "cifar10"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CIFAR-10 could not be downloaded" in err and "on a machine with internet" in err


def write_image_folder(root, classes=3, per_class=12, size=(20, 16)):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"n0{c}").mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / f"n0{c}" / f"{i}.png")


def test_image_folder_is_split_per_class_by_seed(tmp_path):
    write_image_folder(tmp_path, per_class=12)
    train, test = load_image_folder(tmp_path, size=8, per_class=(8, 3))
    assert tuple(train.tensors[0].shape) == (24, 3, 8, 8) and train.tensors[0].dtype == torch.uint8
    assert torch.bincount(train.tensors[1]).tolist() == [8, 8, 8] and torch.bincount(test.tensors[1]).tolist() == [3] * 3
    again = load_image_folder(tmp_path, size=8, per_class=(8, 3))
    assert torch.equal(train.tensors[0], again[0].tensors[0])  # the split is fixed
    other = load_image_folder(tmp_path, size=8, per_class=(8, 3), seed=1)
    assert not torch.equal(train.tensors[0], other[0].tensors[0])


def test_a_small_class_is_split_five_to_one(tmp_path):
    write_image_folder(tmp_path, classes=2, per_class=12)
    train, test = load_image_folder(tmp_path, size=8)  # 500 / 100 asked, 12 there
    assert torch.bincount(train.tensors[1]).tolist() == [10, 10] and torch.bincount(test.tensors[1]).tolist() == [2, 2]


def test_image_folders_have_nothing_to_download(tmp_path):
    from snn_edu.errors import ConfigError

    with pytest.raises(ConfigError, match="local folders; there is nothing to download"):
        download_dataset(f"imagefolder:{tmp_path}")
