"""Lesson 01 helpers: read a keras-bert model's parameters by component, keep its summary short,
and draw where the parameters live (:func:`plot_parameter_breakdown`, which returns its Axes).

keras-bert names its layers ``Embedding-Token``, ``Encoder-3-FeedForward-Norm``, ``MLM-Sim``,
``NSP-Dense`` ...; these helpers group the layers by those names.
"""
from __future__ import annotations

import re
from collections import OrderedDict

_ENCODER = re.compile(r"^Encoder-(\d+)-")

# Figure components, in the order data flows through the pretraining model.
COMPONENTS = (
    "token embedding",
    "position embedding",
    "segment embedding + LayerNorm",
    "self-attention (all blocks)",
    "feed-forward (all blocks)",
    "MLM head",
    "NSP head",
)


def component_of(layer_name: str) -> str | None:
    """The figure component a keras-bert layer belongs to (None for layers without weights)."""
    if layer_name == "Embedding-Token":
        return "token embedding"
    if layer_name == "Embedding-Position":
        return "position embedding"
    if layer_name in ("Embedding-Segment", "Embedding-Norm"):
        return "segment embedding + LayerNorm"
    if _ENCODER.match(layer_name):
        # Each block's LayerNorm is counted with the sub-layer whose output it normalises.
        return "self-attention (all blocks)" if "MultiHeadSelfAttention" in layer_name else "feed-forward (all blocks)"
    if layer_name.startswith("MLM"):
        return "MLM head"
    if layer_name.startswith("NSP"):
        return "NSP head"
    return None


def parameters_by_component(model) -> "OrderedDict[str, int]":
    """{component: parameter count} for a keras-bert model; the counts add up to count_params()."""
    counts = OrderedDict((name, 0) for name in COMPONENTS)
    unknown = []
    for layer in model.layers:
        n = int(layer.count_params())
        if not n:
            continue
        component = component_of(layer.name)
        if component is None:
            unknown.append(layer.name)
        else:
            counts[component] += n
    if unknown:
        raise ValueError(f"not a keras-bert model layout: layers with weights {unknown}")
    return OrderedDict((k, v) for k, v in counts.items() if v)


def group_of(layer_name: str) -> str:
    """The row of :func:`summary_by_group` a layer belongs to: Inputs, Embeddings, Encoder-N, MLM head, NSP head."""
    match = _ENCODER.match(layer_name)
    if match:
        return f"Encoder-{match.group(1)}"
    if layer_name.startswith("Input"):
        return "Inputs"
    if layer_name.startswith("Embedding"):
        return "Embeddings"
    if layer_name.startswith("NSP"):
        return "NSP head"
    return "MLM head"  # MLM-Dense, MLM-Norm, Extract, MLM-Sim, MLM


def summary_by_group(model):
    """A short model.summary(): one row per group of layers, with layer and parameter counts.

    Returns a pandas DataFrame indexed by group, plus a ``total`` row.
    """
    import pandas as pd

    rows: "OrderedDict[str, list[int]]" = OrderedDict()
    for layer in model.layers:
        row = rows.setdefault(group_of(layer.name), [0, 0])
        row[0] += 1
        row[1] += int(layer.count_params())
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["layers", "parameters"])
    frame.loc["total"] = frame.sum()
    frame.index.name = "group"
    return frame


def summary_lines(model, line_length: int = 100) -> list[str]:
    """model.summary() as a list of lines (instead of printing all of them)."""
    lines: list[str] = []
    model.summary(line_length=line_length, print_fn=lambda line, **kwargs: lines.extend(line.split("\n")))
    return lines


def print_summary_excerpt(model, head: int = 14, tail: int = 6, line_length: int = 100) -> None:
    """Print the first `head` and last `tail` lines of model.summary(), with a count of those left out."""
    lines = summary_lines(model, line_length)
    if len(lines) <= head + tail:
        print("\n".join(lines))
        return
    print("\n".join(lines[:head]))
    print(f"... {len(lines) - head - tail} more lines ...")
    print("\n".join(lines[-tail:]))


# ---------------------------------------------------------------------------------------------
# The figure: where the parameters live
# ---------------------------------------------------------------------------------------------
def _amount(value: int) -> str:
    return f"{value / 1e6:.2f} M" if value >= 100_000 else f"{value:,}"


def plot_parameter_breakdown(counts: dict, title: str = "Where BERT's parameters live", ax=None):
    """Horizontal bars of parameters per component, labelled with millions and share of the total."""
    import matplotlib.pyplot as plt

    if not counts:
        raise ValueError("counts is empty: pass {component: number of parameters}")
    names = list(counts)
    values = [counts[name] for name in names]
    total = sum(values)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.2), dpi=80)
    bars = ax.barh(names, [v / 1e6 for v in values], color="#4c72b0")
    ax.invert_yaxis()  # first component on top
    for bar, value in zip(bars, values):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                f" {_amount(value)} ({100 * value / total:.1f} %)", va="center", fontsize=9)
    ax.set_xlim(0, max(values) / 1e6 * 1.35)
    ax.set_xlabel("parameters (millions)")
    ax.set_ylabel("component")
    ax.set_title(f"{title} (total {total / 1e6:.2f} M)")
    ax.figure.tight_layout()
    return ax
