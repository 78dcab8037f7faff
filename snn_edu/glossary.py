"""The terms a student meets in the notebooks, each with the words that introduce it.

One home for what the method's terms mean. A notebook introduces a term with its `intro`
(the exact words, at or before the term's first use: tests/test_notebook_text.py checks it);
`meaning` is the longer explanation, for `describe`.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    intro: str    # the words that introduce the term in a notebook; they contain the term itself
    meaning: str  # what it is, in a sentence


TERMS = {
    "SNN": Term("switcher neural network (SNN)",
                "the small U-Net that reads a layer's weight matrix as an image and outputs one gate per unit"),
    "TNN": Term("task neural network (TNN)", "the classifier whose units the switcher gates"),
    "AL": Term("alternate learning (AL)", "the switcher and the TNN take turns, one epoch each, on the same loss"),
    "SL": Term("separate learning (SL)",
               "the TNN is trained alone first, then frozen while the switcher learns its gates"),
    "U-Net": Term("U-Net (a convolutional network that shrinks its input image and grows it back)",
                  "an encoder-decoder of convolutions whose upsampling half also reads the encoder's maps "
                  "of the same size"),
    "L0": Term("L0 regularisation (gates trained with a penalty on how many of them are open)",
               "Louizos et al.'s stochastic hard-concrete gates, trained with the expected number of open gates "
               "as a penalty"),
    "BC-GNJ": Term("Bayesian compression with group normal-Jeffreys priors (BC-GNJ)",
                   "Louizos et al.'s variational method: each neuron's weights share a noisy scale, and a neuron "
                   "whose noise swamps its scale is removed"),
    "BC-GHS": Term("Bayesian compression with group horseshoe priors (BC-GHS)",
                   "the same method with a horseshoe prior on each neuron's scale"),
    "log alpha": Term("log alpha, the log of a neuron's noise-to-signal ratio",
                      "BC's pruning statistic: large when a neuron's scale is mostly noise"),
    "KL divergence": Term("KL divergence (Kullback-Leibler: how far one distribution is from another)",
                          "the term of a variational loss that keeps the learned posterior near its prior"),
}


def name(term: str) -> str:
    """A glossary term as registries and pages write it (checked to be one: a misspelt name fails at import)."""
    if term not in TERMS:
        raise KeyError(f"no glossary entry {term!r}; known: {', '.join(TERMS)}")
    return term


def describe(term: str) -> str:
    """'TERM: meaning', for a term of TERMS."""
    if term not in TERMS:
        raise KeyError(f"no glossary entry {term!r}; known: {', '.join(TERMS)}")
    return f"{term}: {TERMS[term].meaning}"
