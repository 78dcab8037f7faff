"""Colour image data sets: CIFAR-10 and CIFAR-100 through torchvision, and any class-per-folder
image set (`imagefolder:PATH`, e.g. Mini-ImageNet) split 500 / 100 per class as the papers do.

Images are kept as uint8 tensors (N, 3, H, W), a quarter of float32's memory; the networks'
`ImageInput` module scales, normalises and (in training) crops and flips them.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from .errors import ConfigError, DataError, first_line

CIFAR = {"cifar10": ("CIFAR10", "CIFAR-10"), "cifar100": ("CIFAR100", "CIFAR-100")}
IMAGEFOLDER = "imagefolder:"
PER_CLASS = (500, 100)  # Mini-ImageNet in the first paper: 500 training and 100 test images per class
FOLDER_SIZE = 84  # the usual Mini-ImageNet side, in pixels
SPLIT_SEED = 0


def _cifar_class(name: str):
    """torchvision's CIFAR class, reading its files once they are present. Its own check also
    compares each file's MD5 with the official one; downloading keeps that check (torchvision
    verifies the archive's MD5), loading only asks that every file is there."""
    import torchvision.datasets as tvd

    base = getattr(tvd, CIFAR[name][0])
    return type(f"Present{base.__name__}", (base,), {
        "train_list": [[f, None] for f, _ in base.train_list],  # None: torchvision checks presence only
        "test_list": [[f, None] for f, _ in base.test_list],
        "meta": {**base.meta, "md5": None}})


def load_cifar(name: str, root: Path, download: bool = False) -> tuple[TensorDataset, TensorDataset]:
    """(train, test): uint8 images (N, 3, 32, 32) and int64 labels."""
    label = CIFAR[name][1]
    cls = _cifar_class(name)
    try:
        parts = [cls(str(root), train=train, download=download) for train in (True, False)]
    except (RuntimeError, OSError, ValueError, EOFError) as e:
        what = f"could not be downloaded to {root} ({first_line(e)})" if download else f"not found under {root}"
        raise DataError(f"{label} {what}; run 'python -m snn_edu data download {name}' on a machine with "
                        f"internet (or copy its unpacked {cls.base_folder} folder there)") from e
    except Exception as e:  # a damaged pickle
        raise DataError(f"{label} under {root} cannot be read ({first_line(e)}); download it again") from e
    return tuple(TensorDataset(torch.from_numpy(p.data).permute(0, 3, 1, 2).contiguous(),
                               torch.tensor(p.targets, dtype=torch.int64)) for p in parts)


def load_image_folder(folder: Path, size: int = FOLDER_SIZE, per_class=PER_CLASS,
                      seed: int = SPLIT_SEED) -> tuple[TensorDataset, TensorDataset]:
    """A class-per-subfolder image set (torchvision's ImageFolder), resized to size x size,
    split per class into `per_class` (train, test) images drawn by `seed`; a class with fewer
    images than both together is split 5 : 1."""
    import torchvision.datasets as tvd
    import torchvision.transforms.v2 as T

    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist (expected one subfolder of images per class)")
    to_tensor = T.Compose([T.PILToTensor(), T.Resize((size, size), antialias=True)])
    try:
        ds = tvd.ImageFolder(str(folder), transform=to_tensor)
    except (FileNotFoundError, RuntimeError) as e:
        raise DataError(f"{folder}: {first_line(e)}") from e
    targets = torch.tensor(ds.targets)
    g = torch.Generator().manual_seed(seed)
    train_idx, test_idx = [], []
    for c in range(len(ds.classes)):
        idx = (targets == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_train, n_test = per_class
        if len(idx) < n_train + n_test:
            n_test = max(1, len(idx) // 6)
            n_train = len(idx) - n_test
        train_idx += idx[:n_train].tolist()
        test_idx += idx[n_train:n_train + n_test].tolist()

    def gather(indices):
        images = [ds[i][0] for i in indices]
        images = [im.expand(3, -1, -1) if im.shape[0] == 1 else im[:3] for im in images]
        return TensorDataset(torch.stack(images).to(torch.uint8), targets[indices].long())

    return gather(sorted(train_idx)), gather(sorted(test_idx))


def load(name: str, root: Path, download: bool = False) -> tuple[TensorDataset, TensorDataset]:
    """cifar10, cifar100 or imagefolder:PATH."""
    if name in CIFAR:
        return load_cifar(name, root, download)
    if name.startswith(IMAGEFOLDER):
        if download:
            raise ConfigError("imagefolder:PATH data sets are local folders; there is nothing to download")
        return load_image_folder(Path(name[len(IMAGEFOLDER):]).expanduser())
    raise ConfigError(f"not an image data set: {name!r}")


def is_image_set(name: str) -> bool:
    return name in CIFAR or name.startswith(IMAGEFOLDER)
