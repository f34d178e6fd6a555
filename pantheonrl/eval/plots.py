"""Heatmaps of cross-play results.

matplotlib is imported when a plot is drawn, not with this module, and only through its Agg canvas: no
pyplot, no change of the process's backend, no window.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pantheonrl.errors import UserInputError
from pantheonrl.eval._io import atomic_write_bytes

if TYPE_CHECKING:
    from pantheonrl.eval.crossplay import CrossPlayResult

__all__ = ["plot_heatmap"]


def plot_heatmap(result: CrossPlayResult, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Draw ``result.means`` as an annotated heatmap (each cell ``mean±sem``) and write it as a PNG.

    Rows are ``result.names_a``, columns ``result.names_b``; the colour is the row agent's mean return over
    the seats it played. The file is written atomically (a temporary file in the same folder, then
    ``os.replace``).

    :param result: a :class:`~pantheonrl.eval.crossplay.CrossPlayResult`.
    :param path: where to write the PNG, whatever its suffix (its folder is created if needed).
    :param title: the figure title; by default one naming the game and the number of episodes.
    :return: the path written.
    """
    from pantheonrl.eval.crossplay import CrossPlayResult

    if not isinstance(result, CrossPlayResult):
        raise UserInputError(
            f"plot_heatmap needs a CrossPlayResult (from crossplay(...) or CrossPlayResult.from_json), got "
            f"{type(result).__name__}"
        )
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    means, sems = result.means, result.sems
    n_rows, n_cols = means.shape
    width = min(2.0 + 1.3 * n_cols, 30.0)
    height = min(1.6 + 0.8 * n_rows, 30.0)
    fig = Figure(figsize=(max(width, 6.0), max(height, 3.5)), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)

    finite = means[np.isfinite(means)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if vmin == vmax:
        vmin, vmax = vmin - 1.0, vmax + 1.0
    image = ax.imshow(means, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
    colorbar = fig.colorbar(image, ax=ax)
    colorbar.set_label("row agent's mean return")

    ax.set_xticks(range(n_cols))
    ax.set_xticklabels(result.names_b, rotation=30 if n_cols > 3 else 0, ha="right" if n_cols > 3 else "center")
    ax.set_yticks(range(n_rows))
    ax.set_yticklabels(result.names_a)
    ax.set_xlabel("column agent (partner)")
    ax.set_ylabel("row agent")

    fontsize = max(5.0, min(10.0, 40.0 / max(n_rows, n_cols)))
    cmap = image.get_cmap()
    for i in range(n_rows):
        for j in range(n_cols):
            r, g, b, _ = cmap(image.norm(means[i, j]))
            color = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
            label = f"{means[i, j]:.2f}±{sems[i, j]:.2f}"
            ax.text(j, i, label, ha="center", va="center", color=color, fontsize=fontsize)

    if title is None:
        game = result.metadata.get("env") or result.metadata.get("game")
        seats = "both seats" if len(result.seats) > 1 else f"seat {result.seats[0]}"
        title = f"Cross-play{f' on {game}' if game else ''} ({result.episodes} episodes per cell, {seats})"
    ax.set_title(title, fontsize=10, wrap=True)
    fig.tight_layout()

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return atomic_write_bytes(path, buffer.getvalue())
