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
