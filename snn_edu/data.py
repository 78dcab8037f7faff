"""Data sets as in-memory tensors: MNIST, Fashion-MNIST, the offline mnist5k and fashion5k, and IDX folders."""

from __future__ import annotations

import functools
import gzip
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from . import images
from .errors import ConfigError, DataError, first_line

DATASETS = ("mnist", "mnist5k", "fashion-mnist", "fashion5k", "cifar10", "cifar100")
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# Full data sets that a system package installs offline, read when torchvision's files are absent:
# Debian's dataset-fashion-mnist (its four gzipped IDX files).
SYSTEM_IDX = {"fashion-mnist": Path("/usr/share/datasets/fashion-mnist")}
_TORCHVISION = {"mnist": ("MNIST", "MNIST"), "fashion-mnist": ("FashionMNIST", "Fashion-MNIST")}
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_TORCH_TO_IDX = {torch.uint8: 0x08, torch.int8: 0x09, torch.int16: 0x0B, torch.int32: 0x0C,
                 torch.float32: 0x0D, torch.float64: 0x0E}
# mnist5k and fashion5k: 5,000 images each (500 per class) shipped as gzipped IDX files, split
# 4,000 / 1,000 the same way; see assets/README.md (fashion5k is made by snn_edu.fashion5k).
ASSETS_DIR = Path(__file__).resolve().parent / "assets"
MNIST5K_FILES = ("mnist5k-images-idx3-ubyte.gz", "mnist5k-labels-idx1-ubyte.gz")
FASHION5K_FILES = ("fashion5k-images-idx3-ubyte.gz", "fashion5k-labels-idx1-ubyte.gz")
SHIPPED = {"mnist5k": MNIST5K_FILES, "fashion5k": FASHION5K_FILES}


def default_data_dir() -> Path:
    """Where data sets live: ``$SNN_EDU_DATA`` if set, else ``~/.cache/snn_edu/data``."""
    env = os.environ.get("SNN_EDU_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "snn_edu" / "data"


def _unknown(name: str) -> ConfigError:
    return ConfigError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}, idx:PATH or imagefolder:PATH")


def _as_dataset(images: torch.Tensor, labels: torch.Tensor, what: str) -> TensorDataset:
    """Images (N,28,28) or (N,784) -> float32 (N,1,28,28) in [0,1]; labels -> int64 (N,)."""
    if images.ndim == 2 and images.shape[1] == 784:
        images = images.reshape(-1, 28, 28)
    if images.ndim != 3 or tuple(images.shape[1:]) != (28, 28):
        raise DataError(f"{what}: expected 28x28 images, got shape {tuple(images.shape)}")
    labels = labels.reshape(-1).long()
    if labels.shape[0] != images.shape[0]:
        raise DataError(f"{what}: {images.shape[0]} images but {labels.shape[0]} labels")
    x = images.float() if images.dtype.is_floating_point else images.float() / 255.0
    return TensorDataset(x.unsqueeze(1).contiguous(), labels)


def read_idx(path) -> torch.Tensor:
    """Read an IDX file (optionally gzipped) into a tensor of its stored dtype and shape."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"IDX file not found: {path}")
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"cannot read IDX file {path}: {first_line(e)}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(f"not an IDX file (bad magic number): {path}")
    ndim, dtype = raw[3], np.dtype(_IDX_TYPES[raw[2]])
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"truncated IDX header: {path}")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    count = int(np.prod(dims, dtype=np.int64))
    if len(raw) != header + count * dtype.itemsize:
        raise DataError(f"IDX file size does not match its dimensions {dims}: {path}")
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=header)
    return torch.from_numpy(data.astype(dtype.newbyteorder("="))).reshape(dims)


def write_idx(path, tensor: torch.Tensor) -> Path:
    """Write a tensor as an IDX file (gzipped if the name ends in .gz); int64 is stored as uint8 or int32."""
    path, t = Path(path), torch.as_tensor(tensor).detach().cpu()
    if t.dtype in (torch.int64, torch.bool):
        fits_u8 = t.numel() == 0 or (int(t.min()) >= 0 and int(t.max()) <= 255)
        t = t.to(torch.uint8 if fits_u8 else torch.int32)
    if t.dtype not in _TORCH_TO_IDX:
        raise ConfigError(f"IDX cannot store dtype {t.dtype}")
    code = _TORCH_TO_IDX[t.dtype]
    header = bytes([0, 0, code, t.ndim]) + np.asarray(t.shape, dtype=">u4").tobytes()
    body = t.numpy().astype(np.dtype(_IDX_TYPES[code])).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw:
        if path.suffix == ".gz":  # no name and no time in the gzip header: the same tensor gives the same bytes
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
                f.write(header + body)
        else:
            raw.write(header + body)
    return path


def _load_idx_folder(folder: Path) -> tuple[TensorDataset, TensorDataset]:
    if not folder.is_dir():
        raise DataError(f"IDX folder not found: {folder}")
    tensors = []
    for name in IDX_FILES:
        found = [p for p in (folder / name, folder / f"{name}.gz") if p.is_file()]
        if not found:
            raise DataError(f"missing {name} (or {name}.gz) in IDX folder {folder}")
        tensors.append(read_idx(found[0]))
    return (_as_dataset(tensors[0], tensors[1], f"{folder} (train)"),
            _as_dataset(tensors[2], tensors[3], f"{folder} (t10k)"))


def _shipped_paths(name: str = "mnist5k") -> list[Path]:
    """A shipped subset's files; a missing one means the package was installed without its data."""
    paths = [ASSETS_DIR / file for file in SHIPPED[name]]
    for path in paths:
        if not path.is_file():
            raise DataError(f"{name} data file {path} is missing, so the snn_edu install is incomplete;"
                            " reinstall snn_edu (e.g. 'pip install -e .' from the repository)")
    return paths


def _shipped_raw(name: str = "mnist5k") -> tuple[torch.Tensor, torch.Tensor]:
    """The 5,000 shipped images in their stored order: images uint8 (5000,28,28), labels uint8 (5000,)."""
    images, labels = (read_idx(path) for path in _shipped_paths(name))
    if tuple(images.shape) != (5000, 28, 28) or tuple(labels.shape) != (5000,):
        raise DataError(f"{name} data files in {ASSETS_DIR} have unexpected shapes"
                        f" {tuple(images.shape)} and {tuple(labels.shape)}; reinstall the package")
    return images, labels


@functools.lru_cache(maxsize=2)
def _shipped_split(name: str = "mnist5k") -> tuple[torch.Tensor, ...]:
    """The fixed 4,000/1,000 split of a shipped subset (400/100 per class): x float32 (N,784) in
    [0,1], y int64; the same rule for mnist5k and fashion5k."""
    images, labels = _shipped_raw(name)
    x = images.reshape(len(images), -1).float() / 255.0
    y = labels.long()
    g = torch.Generator().manual_seed(0)
    train, test = [], []
    for c in torch.unique(y).tolist():
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_test = len(idx) // 5
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    train, test = torch.cat(train), torch.cat(test)
    train = train[torch.randperm(len(train), generator=g)]
    test = test[torch.randperm(len(test), generator=g)]
    return x[train], y[train], x[test], y[test]


def _load_torchvision(name: str, root: Path, download: bool) -> tuple[TensorDataset, TensorDataset]:
    import torchvision.datasets as tvd

    cls_name, label = _TORCHVISION[name]
    cls = getattr(tvd, cls_name)
    try:
        parts = [cls(str(root), train=train, download=download) for train in (True, False)]
    except (RuntimeError, OSError, ValueError, EOFError) as e:
        what = f"could not be downloaded to {root} ({first_line(e)})" if download else f"not found under {root}"
        raise DataError(
            f"{label} {what}; run 'python -m snn_edu data download {name}'"
            " on a machine with internet, or " + (
                "use --data fashion5k (offline; the full set offline on Debian: apt-get install "
                f"dataset-fashion-mnist, which --data fashion-mnist then reads from {SYSTEM_IDX[name]})"
                if name == "fashion-mnist"
                else "use --data mnist5k (offline)")) from e
    return tuple(_as_dataset(p.data, p.targets, f"{label} {root}") for p in parts)


def load_dataset(name: str, root=None, download: bool = False) -> tuple[TensorDataset, TensorDataset]:
    """Return (train, test) TensorDatasets: x float32 (N,1,28,28) in [0,1] for the digit sets,
    uint8 (N,3,H,W) for the colour sets (snn_edu.images); y int64."""
    if images.is_image_set(name):
        return images.load(name, Path(root) if root else default_data_dir(), download)
    if name.startswith("idx:"):
        return _load_idx_folder(Path(name[4:]).expanduser())
    if name in SHIPPED:
        xtr, ytr, xte, yte = _shipped_split(name)
        return (_as_dataset(xtr.clone(), ytr.clone(), name), _as_dataset(xte.clone(), yte.clone(), name))
    if name in _TORCHVISION:
        root = Path(root) if root else default_data_dir()
        try:
            return _load_torchvision(name, root, download)
        except DataError:
            # its four IDX files in a folder named after it (carried beside a run), or a system package's
            folders = [f for f in (root / name, SYSTEM_IDX.get(name)) if f is not None and f.is_dir()]
            if download or not folders:
                raise
            return _load_idx_folder(folders[0])
    raise _unknown(name)


def shape_and_classes(name: str) -> tuple[tuple[int, int, int], int]:
    """The (channels, height, width) of a data set's images and its number of classes, without
    loading it (an image folder's classes are its subfolders)."""
    if name in images.CIFAR:
        return (3, 32, 32), 100 if name == "cifar100" else 10
    if name.startswith(images.IMAGEFOLDER):
        folder = Path(name[len(images.IMAGEFOLDER):]).expanduser()
        classes = sum(1 for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else 0
        if not classes:
            raise DataError(f"image folder {folder} has no class subfolders")
        return (3, images.FOLDER_SIZE, images.FOLDER_SIZE), classes
    return (1, 28, 28), 10


def download_dataset(name: str, root=None) -> Path:
    """Download mnist, fashion-mnist, cifar10 or cifar100 and return the data folder.

    mnist5k and fashion5k ship inside this package and need no download: their assets folder is
    returned (after checking that their files are there).
    """
    if name in SHIPPED:
        _shipped_paths(name)
        return ASSETS_DIR
    if name.startswith("idx:"):
        raise ConfigError("idx:PATH data sets are local folders; there is nothing to download")
    if images.is_image_set(name):
        root = Path(root) if root else default_data_dir()
        root.mkdir(parents=True, exist_ok=True)
        images.load(name, root, download=True)
        return root
    if name not in _TORCHVISION:
        raise _unknown(name)
    root = Path(root) if root else default_data_dir()
    root.mkdir(parents=True, exist_ok=True)
    _load_torchvision(name, root, download=True)
    return root


def subset(ds: TensorDataset, n: int, seed: int = 0) -> TensorDataset:
    """A random subset of n items, balanced across classes as far as possible, fixed by seed."""
    x, y = ds.tensors[0], ds.tensors[1]
    if n <= 0:
        raise ConfigError(f"subset size must be positive, got {n}")
    if n >= len(y):
        return TensorDataset(x, y)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(y), generator=g)
    rank = torch.empty_like(perm)
    labels = y[perm]
    for c in torch.unique(labels):
        mask = labels == c
        rank[mask] = torch.arange(int(mask.sum()))
    chosen = perm[torch.sort(rank, stable=True).indices[:n]]
    chosen = chosen[torch.randperm(n, generator=g)]
    return TensorDataset(x[chosen], y[chosen])


def shuffled_labels(ds: TensorDataset, seed: int) -> TensorDataset:
    """The same images with their labels randomly permuted (a chance-level control)."""
    x, y = ds.tensors[0], ds.tensors[1]
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(x, y[torch.randperm(len(y), generator=g)])
