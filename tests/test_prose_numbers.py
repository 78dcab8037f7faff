"""Numbers written into the notebooks' prose agree with the data they describe.

Numbers about shipped runs are printed by code cells, never typed. The few a markdown cell does
type (a percentage or a decimal: a recipe's rate, the release's accuracy floor, an axis tick) are
listed here with the place in the package they come from, and checked against it. A number that
appears in the prose and is not listed fails the test: compute it in a code cell, or list its source.
"""
import math
import re
from pathlib import Path

import jupytext
import pytest

from snn_edu import paper, plots, recipes, stats
from snn_edu.models import build_model
from snn_edu.presets import preset

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9]*.py"))

# a percentage, or a number with a decimal point, standing alone
NUMBER = re.compile(r"(?<![\w.$`/-])(\d+(?:\.\d+)?\s?%|\d+\.\d+)(?![\w`.]\d)")
# not claims about data: code, formulas, links, the papers' section numbers and arXiv ids
NOT_PROSE = re.compile(r"`[^`]*`|\$[^$]*\$|\]\([^)]*\)|https?://\S+|section \d+(\.\d+)*|arXiv:\S+")


def chance() -> float:
    """Test accuracy (%) of guessing among MNIST's classes."""
    return 100 / build_model("mlp").fc3.out_features


def rho_at_chance(n: int) -> float:
    """|Spearman rho| below which n pairs show no rank correlation at the 5 % level (normal approximation)."""
    return 1.96 / math.sqrt(n - 1)


# (notebook, number as written) -> whether its source still says so
CHECKS = {
    ("02", "98.42 %"): lambda: paper.RELEASE_ACCURACY_FLOOR[("mlp", "neuron")] == 98.42,
    ("02", "99.32 %"): lambda: paper.RELEASE_ACCURACY_FLOOR[("lenet5", "neuron")] == 99.32,
    ("02", "90 %"): lambda: recipes.MLP_TARGET == 90,
    ("02", "10 %"): lambda: chance() == 10,
    ("03", "10 %"): lambda: chance() == 10,
    ("03", "0.3"): lambda: build_model("lenet5").conv1.out_channels == 20 and 0.3 < rho_at_chance(20),
    ("04", "90 %"): lambda: 90 in plots.COMPRESSION_TICKS,
    ("04", "99 %"): lambda: 99 in plots.COMPRESSION_TICKS,
    ("05", "0.9"): lambda: preset("mlp", "cpu").momentum == 0.9 and preset("mlp", "release").momentum == 0,
    ("06", "0.1"): lambda: all(preset(m, "paper").lr == 0.1 and preset(m, "paper").batch_size == 64
                               and preset(m, "paper").patience == 20 and preset(m, "paper").gamma == 0.1
                               for m in ("vgg-cov2", "vgg16", "resnet18", "resnet34", "mobilenet-v1")),
    ("04", "95 %"): lambda: "95 % interval" in stats.interval_text((0.0, -1.0, 1.0)),
    ("05", "95 %"): lambda: "95 % interval" in stats.interval_text((0.0, -1.0, 1.0)),
    ("07", "95 %"): lambda: "95 % interval" in stats.interval_text((0.0, -1.0, 1.0)),
    ("07", "4.30"): lambda: round(stats.T_975[2], 2) == 4.30,  # three seeds: 2 degrees of freedom
    ("07", "2.0"): lambda: round(stats.T_975[29], 1) == 2.0,   # thirty seeds
    ("06", "0.005"): lambda: all(preset(m, "paper").stop_lr == 0.005
                                 for m in ("vgg-cov2", "vgg16", "resnet18", "resnet34", "mobilenet-v1")),
}


def prose_numbers(text: str) -> list[str]:
    return [re.sub(r"\s+", " ", m.group(1)).replace(" %", " %").replace("%", " %").replace("  ", " ")
            for m in NUMBER.finditer(NOT_PROSE.sub(" ", text))]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_number_in_the_prose_is_checked_against_its_source(source):
    text = "\n".join(c.source for c in jupytext.read(source).cells if c.cell_type == "markdown")
    unlisted = sorted({n for n in prose_numbers(text) if (source.stem[:2], n) not in CHECKS})
    assert not unlisted, f"{source.name} types {unlisted} in its prose: print them from the data, or list their source here"
    wrong = [n for (nb, n), holds in CHECKS.items() if nb == source.stem[:2] and n in prose_numbers(text) and not holds()]
    assert not wrong, f"{source.name} says {wrong}, and its source no longer does"


def test_every_listed_number_is_still_in_its_notebook():
    stale = [(nb, n) for nb, n in CHECKS
             if n not in prose_numbers("\n".join(c.source for c in jupytext.read(next(NOTEBOOKS.glob(f"{nb}_*.py"))).cells
                                                  if c.cell_type == "markdown"))]
    assert not stale, f"listed here but no longer in the prose: {stale}"


def test_numbers_are_found_in_sentences_and_not_in_code_or_references():
    assert prose_numbers("ends above 90 % with lr 0.05 (section 3.4, arXiv:2110.05954, `--lr 0.1`, $0.5$)") == ["90 %", "0.05"]
