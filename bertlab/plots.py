"""Figures that lessons share. Each function returns the matplotlib Axes it drew on."""
from __future__ import annotations


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
