"""Matplotlib figures for the reports, built from arrays and results.

Figures are created with :class:`matplotlib.figure.Figure` directly (not pyplot), so they
are never registered globally and need no closing; a notebook shows one by making it the
last expression of a cell. Resolution is capped to keep reports small.

Drawing is most of a report's time, so the figures avoid what makes matplotlib draw twice
or search: no layout engine (the inline backend saves with ``bbox_inches="tight"``, which
fits the margins anyway) and legends placed beside the axes instead of at ``loc="best"``,
whose search over the drawn data cost about a second per histogram, and log axes labelled in
plain text.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

DPI = 80
STATUS_COLORS = {"pass": "#2e7d32", "warn": "#f9a825", "fail": "#c62828", "error": "#6a1b9a"}


def _figure(width=6.0, height=3.2, ncols=1):
    fig = Figure(figsize=(width, height), dpi=DPI)
    axes = fig.subplots(1, ncols)
    return fig, axes


# "1e-06" instead of the log axis's default mathtext $10^{-6}$: parsing those labels in a
# fresh kernel took most of a histogram's drawing time
_PLAIN_POWERS = FuncFormatter(lambda value, _: f"{value:.0e}")


def _legend_beside(ax):
    """The axes' legend to the right of the plot: never over the data, placed without search."""
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def difference_histogram(differences, *, tolerance, title):
    """Histogram of |reproduced - assembly| on a log scale, with the tolerance marked.

    Parameters
    ----------
    differences : dict of str to array_like
        Label -> reproduced minus assembly values, one histogram per label.
    tolerance : float
        Drawn as a vertical line.
    title : str
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _figure()
    floor = 1e-12
    for label, diff in differences.items():
        values = np.abs(np.ravel(np.asarray(diff, dtype=np.float64)))
        values = np.maximum(values[np.isfinite(values)], floor)
        if values.size:
            bins = np.logspace(-12, max(1.0, np.log10(values.max()) + 0.5), 60)
            ax.hist(values, bins=bins, histtype="step", label=label)
    ax.axvline(tolerance, color=STATUS_COLORS["fail"], linestyle="--", label="tolerance")
    ax.set(xscale="log", xlabel="|reproduced - assembly| (values at 0 drawn at 1e-12)")
    ax.xaxis.set_major_formatter(_PLAIN_POWERS)
    ax.set(ylabel="values", title=title)
    _legend_beside(ax)
    return fig


def reproduced_scatter(reproduced, actual, *, title, max_points=4000, seed=0):
    """Scatter of reproduced against assembly values, subsampled to ``max_points``."""
    a = np.ravel(np.asarray(reproduced, dtype=np.float64))
    b = np.ravel(np.asarray(actual, dtype=np.float64))
    keep = np.flatnonzero(np.isfinite(a) & np.isfinite(b))
    if keep.size > max_points:
        keep = np.random.default_rng(seed).choice(keep, size=max_points, replace=False)
    fig, ax = _figure(4.0, 3.6)
    ax.scatter(a[keep], b[keep], s=3, alpha=0.5, color="#1565c0")
    if keep.size:
        low, high = min(a[keep].min(), b[keep].min()), max(a[keep].max(), b[keep].max())
        ax.plot([low, high], [low, high], color="0.4", linewidth=0.8)
    ax.set(xlabel="reproduced", ylabel="assembly", title=title)
    return fig


def benchmark_bars(table, *, title, ylabel="median Pearson r", lines=None):
    """Grouped bars of per-subject raw scores: reported, replica, RidgeCV.

    Parameters
    ----------
    table : pandas.DataFrame
        Index = subject labels; numeric columns to draw side by side.
    title : str
        Axes title.
    ylabel : str
        What the bars measure.
    lines : dict of str to float, or None
        Label -> value of horizontal lines across all subjects (e.g. a ceiling); the first
        is drawn solid, the others dashed. Non-finite values are left out.
    """
    columns = list(table.select_dtypes("number").columns)
    fig, ax = _figure(max(4.0, 1.2 * len(table) + 2), 3.2)
    x = np.arange(len(table))
    width = 0.8 / max(len(columns), 1)
    for k, column in enumerate(columns):
        ax.bar(x + k * width, table[column].to_numpy(), width, label=column)
    for k, (label, value) in enumerate((lines or {}).items()):
        if np.isfinite(value):
            style = "-" if k == 0 else "--"
            ax.axhline(value, color="0.2", linestyle=style, linewidth=1.0, label=label)
    ax.set_xticks(x + width * (len(columns) - 1) / 2, [str(i) for i in table.index])
    ax.set(ylabel=ylabel, title=title)
    _legend_beside(ax)
    return fig


def rdm_heatmaps(matrices, *, title):
    """RDMs side by side, one colour scale each, images in the order given.

    Parameters
    ----------
    matrices : dict of str to (n_images, n_images) array_like
        Panel title -> RDM (1 - Pearson r between images).
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = _figure(3.4 * len(matrices) + 0.4, 3.5, ncols=len(matrices))
    for ax, (label, matrix) in zip(np.atleast_1d(axes), matrices.items(), strict=True):
        image = ax.imshow(np.asarray(matrix, dtype=np.float64), cmap="viridis")
        ax.set(title=label, xlabel="image (sorted by stimulus_id)", ylabel="image")
        fig.colorbar(image, ax=ax, shrink=0.8, label="1 - Pearson r")
    fig.suptitle(title)
    return fig


def similarity_map(similarity, *, title, highlight=None, label="Spearman r"):
    """Heat map of a symmetric similarity table, values written in each cell.

    Parameters
    ----------
    similarity : pandas.DataFrame
        Square, same labels on both axes.
    title : str
        Axes title.
    highlight : str or None
        A label whose row is framed.
    label : str
        Colour bar label.
    """
    n = similarity.shape[0]
    fig, ax = _figure(1.0 * n + 2.4, 0.8 * n + 1.2)
    image = ax.imshow(similarity.to_numpy(dtype=float), cmap="magma", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), [str(c) for c in similarity.columns])
    ax.set_yticks(range(n), [str(i) for i in similarity.index])
    for (i, j), value in np.ndenumerate(similarity.to_numpy(dtype=float)):
        color = "black" if value > 0.6 else "white"
        ax.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize="small", color=color)
    if highlight in list(similarity.index):
        row = list(similarity.index).index(highlight)
        frame = {"fill": False, "edgecolor": STATUS_COLORS["pass"], "linewidth": 2.0}
        ax.add_patch(Rectangle((-0.5, row - 0.5), n, 1.0, **frame))
    fig.colorbar(image, ax=ax, label=label)
    ax.set_title(title)
    return fig


def neuroid_count_map(counts, *, title):
    """Heat map of neuroid counts, subjects x regions.

    Parameters
    ----------
    counts : pandas.DataFrame
        Index = subjects, columns = regions, integer counts.
    title : str
        Axes title.
    """
    fig, ax = _figure(1.2 * counts.shape[1] + 2.5, 0.35 * counts.shape[0] + 1.6)
    image = ax.imshow(counts.to_numpy(dtype=float), aspect="auto", cmap="Blues")
    ax.set_xticks(range(counts.shape[1]), [str(c) for c in counts.columns])
    ax.set_yticks(range(counts.shape[0]), [str(i) for i in counts.index])
    for (i, j), n in np.ndenumerate(counts.to_numpy()):
        ax.text(j, i, f"{n:,}", ha="center", va="center", fontsize="small")
    fig.colorbar(image, ax=ax, label="neuroids")
    ax.set_title(title)
    return fig


def noise_ceiling_scatter(recomputed, assembly, *, volume=None, threshold=30.0, title):
    """Noise ceiling recomputed from the betas (x) against the stored ones (y), in percent.

    Parameters
    ----------
    recomputed : (n_voxels,) array_like
        From the raw betas.
    assembly : (n_voxels,) array_like
        The assembly's ``nc_testset`` (not drawn when its length differs).
    volume : (n_voxels,) array_like or None
        From NSD's ``ncsnr.nii.gz``, drawn as small crosses.
    threshold : float
        The benchmark's cut, drawn on both axes.
    title : str
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    x = np.asarray(recomputed, dtype=np.float64)
    fig, ax = _figure(4.6, 4.0)
    series = [("assembly nc_testset", assembly, "o", "#1565c0")]
    if volume is not None:
        series.append(("ncsnr.nii.gz", volume, "x", "#ef6c00"))
    for label, values, marker, color in series:
        y = np.asarray(values, dtype=np.float64)
        if y.shape == x.shape:
            ax.scatter(x, y, s=8, marker=marker, alpha=0.6, color=color, label=label)
    ax.plot([0, 100], [0, 100], color="0.4", linewidth=0.8)
    for line in (ax.axvline, ax.axhline):
        line(threshold, color=STATUS_COLORS["fail"], linestyle="--", linewidth=0.8)
    ax.set(xlim=(0, 100), ylim=(0, 100), title=title)
    ax.set(xlabel="recomputed from raw betas (%)", ylabel="stored noise ceiling (%)")
    if ax.collections:
        ax.legend(fontsize="small", loc="upper left")
    return fig
