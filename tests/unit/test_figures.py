import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nsdval.analysis import figures


def test_figures_are_standalone_and_capped_in_resolution(rng):
    before = plt.get_fignums()
    made = [
        figures.difference_histogram(
            {"train": rng.normal(scale=1e-7, size=100), "zeros": np.zeros(5)},
            tolerance=1e-5,
            title="t",
        ),
        figures.reproduced_scatter(rng.normal(size=10_000), rng.normal(size=10_000), title="s"),
        figures.benchmark_bars(
            pd.DataFrame(
                {"a": [0.3, 0.4], "b": [0.31, 0.41], "n": ["x", "y"]}, index=["subj01", "subj02"]
            ),
            title="b",
        ),
        figures.neuroid_count_map(
            pd.DataFrame({"V1": [3, 4]}, index=["subj01", "subj02"]), title="c"
        ),
    ]
    assert all(isinstance(f, Figure) and f.dpi == figures.DPI for f in made)
    assert plt.get_fignums() == before  # nothing registered with pyplot


def test_scatter_subsamples_to_max_points(rng):
    fig = figures.reproduced_scatter(
        rng.normal(size=9000), rng.normal(size=9000), title="s", max_points=500
    )
    assert fig.axes[0].collections[0].get_offsets().shape == (500, 2)


def test_bars_draw_only_numeric_columns():
    table = pd.DataFrame({"reported": [0.3], "replica": [0.3], "note": ["x"]}, index=["subj01"])
    fig = figures.benchmark_bars(table, title="b")
    assert len(fig.axes[0].containers) == 2


def test_noise_ceiling_scatter_draws_each_source_with_the_threshold(rng):
    recomputed = rng.uniform(0, 100, 50)
    fig = figures.noise_ceiling_scatter(
        recomputed, recomputed + 0.1, volume=recomputed, title="nc"
    )
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "assembly nc_testset",
        "ncsnr.nii.gz",
    ]
    assert ax.get_xlim() == (0, 100)
    fig = figures.noise_ceiling_scatter(recomputed, np.zeros(0), title="nc")
    assert len(fig.axes[0].collections) == 0  # an assembly of other voxels is not drawn


def test_bars_draw_the_finite_lines_solid_then_dashed():
    table = pd.DataFrame({"replica": [0.3, 0.4]}, index=["subj01", "subj02"])
    lines = {"ceiling": 0.8, "leave-one-out bound": 0.6, "none": float("nan")}
    ax = figures.benchmark_bars(table, title="b", ylabel="Spearman", lines=lines).axes[0]
    drawn = [(line.get_label(), line.get_linestyle(), line.get_ydata()[0]) for line in ax.lines]
    assert drawn == [("ceiling", "-", 0.8), ("leave-one-out bound", "--", 0.6)]
    assert ax.get_ylabel() == "Spearman"


def test_rdm_heatmaps_draw_one_panel_per_matrix(rng):
    rdm = 1 - np.corrcoef(rng.normal(size=(12, 5)))
    fig = figures.rdm_heatmaps({"subject mean": rdm, "model": rdm}, title="V4")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["subject mean", "model"]
    assert panels[0].images[0].get_array().shape == (12, 12)
    assert isinstance(fig, Figure) and fig.dpi == figures.DPI


def test_similarity_map_writes_each_value_and_frames_the_highlighted_row():
    names = ["V1", "V2", "V4"]
    table = pd.DataFrame(np.array([[1, 0.5, 0.2], [0.5, 1, 0.4], [0.2, 0.4, 1]]), names, names)
    ax = figures.similarity_map(table, title="s", highlight="V2").axes[0]
    assert sorted(t.get_text() for t in ax.texts)[:3] == ["0.200", "0.200", "0.400"]
    (frame,) = ax.patches
    assert frame.get_xy() == (-0.5, 0.5) and frame.get_width() == 3
    assert not figures.similarity_map(table, title="s", highlight="IT").axes[0].patches
