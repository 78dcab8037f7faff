"""How the shipped fashion5k files were made (once; neither users nor CI need to run this).

fashion5k holds the first 500 images of each class in Fashion-MNIST's training file, in class
order (500 T-shirts/tops, then 500 trousers, ..., then 500 ankle boots), the rule mnist5k follows
for MNIST. snn_edu.data splits it 4,000 / 1,000 exactly as it splits mnist5k.

    apt-get install dataset-fashion-mnist     # Debian: the full Fashion-MNIST, offline
    python -m snn_edu.fashion5k /usr/share/datasets/fashion-mnist snn_edu/assets
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from .data import FASHION5K_FILES, read_idx, write_idx

PER_CLASS = 500


def build(source: str | Path, out: str | Path) -> list[Path]:
    """Write fashion5k's two gzipped IDX files into `out` from Fashion-MNIST's IDX files in `source`."""
    source, out = Path(source), Path(out)
    images = read_idx(source / "train-images-idx3-ubyte.gz")
    labels = read_idx(source / "train-labels-idx1-ubyte.gz")
    picked = torch.cat([torch.nonzero(labels == c).flatten()[:PER_CLASS] for c in range(10)])
    return [write_idx(out / FASHION5K_FILES[0], images[picked]), write_idx(out / FASHION5K_FILES[1], labels[picked])]


if __name__ == "__main__":
    for path in build(*sys.argv[1:3]):
        print(path)
