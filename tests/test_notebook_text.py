"""The notebooks' prose: every glossary term is introduced at or before its first use."""
import re
from pathlib import Path

import jupytext
import pytest

from snn_edu.glossary import TERMS, name

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9]*.py"))
SPELLED_OUT = {term: t.intro for term, t in TERMS.items()}


def markdown(source: Path) -> str:
    """All markdown cells of a notebook, in order, with runs of whitespace made one space."""
    cells = [c.source for c in jupytext.read(source).cells if c.cell_type == "markdown"]
    return re.sub(r"\s+", " ", "\n\n".join(cells))


def first_use(text: str, acronym: str) -> int | None:
    """Where the acronym first occurs as a word ('SNN-AL' counts for SNN and AL, SNN_EDU_SMOKE does not)."""
    found = re.search(rf"\b{re.escape(acronym)}\b", text)
    return found.start() if found else None


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_terms_introduced_at_first_use(source):
    text = markdown(source)
    late = []
    for acronym, spelled_out in SPELLED_OUT.items():
        used = first_use(text, acronym)
        spelled = text.lower().find(spelled_out.lower())
        if used is not None and not 0 <= spelled <= used:
            late.append(f"'{acronym}' before '{spelled_out}': ...{text[max(0, used - 60):used + 30]}...")
    assert not late, f"{source.name}: " + "; ".join(late)


def test_first_use_finds_words_only():
    assert first_use("train SNN-AL here", "AL") == 10
    assert first_use("set SNN_EDU_SMOKE=1", "SNN") is None
    assert first_use("FINAL answer", "AL") is None


def test_every_glossary_intro_names_its_term():
    assert all(first_use(t.intro, term) is not None for term, t in TERMS.items())


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_numbered_lists_render_as_written(source):
    """A wrapped line of a list item that starts with a number and a full stop ('   0. Does ...')
    becomes a nested list in JupyterLab's renderer (CommonMark would keep it as text): no
    indented line starts that way."""
    for cell in jupytext.read(source).cells:
        if cell.cell_type == "markdown":
            bad = [line for line in cell.source.splitlines() if re.match(r"^\s{2,}\d+[.)]\s", line)]
            assert not bad, f"{source.name}: a wrapped line reads as a nested numbered list: {bad[0]!r}"


def test_the_colours_the_prose_names_are_the_colours_drawn():
    """07 names the gate categories' colours; they must be the plots' own."""
    import colorsys

    from matplotlib.colors import to_rgb

    from snn_edu.plots import CATEGORY_COLOURS

    hsv = {c: colorsys.rgb_to_hsv(*to_rgb(v)) for c, v in CATEGORY_COLOURS.items()}
    assert hsv["pruned"][2] < 0.25  # near-black
    assert 0.5 < hsv["weakened"][0] < 0.75 and hsv["weakened"][1] > 0.3  # blue
    assert 0.04 < hsv["strengthened"][0] < 0.12 and hsv["strengthened"][1] > 0.5  # orange
    assert "near-black pixels are pruned, blue ones weakened and orange ones strengthened" in \
        markdown(NOTEBOOKS / "07_harder_tasks.py")


def test_registries_name_glossary_terms_as_the_glossary_does():
    """Where a registry's label is a glossary term (L0, BC-GNJ) or contains one (SNN-AL), it is the
    glossary's own spelling: the registries take it from snn_edu.glossary.name."""
    from snn_edu.gates import GATE_KINDS
    from snn_edu.variants import REGISTRY

    assert GATE_KINDS["l0"].label in TERMS and GATE_KINDS["bc"].label in TERMS
    assert REGISTRY["al"].label == "switcher (SNN-AL)" and REGISTRY["sl"].label == "switcher (SNN-SL)"
    with pytest.raises(KeyError, match="no glossary entry 'BC-GJN'"):
        name("BC-GJN")  # a misspelt name in a registry fails at import
