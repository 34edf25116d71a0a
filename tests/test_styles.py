"""simtune.analysis.variants and analysis.styles: method labels, families, panels, axes."""

from __future__ import annotations

import numpy as np

from simtune.analysis.styles import figure, groups, log_x, log_y_if_spread, scheduler_styles
from simtune.analysis.variants import family, variant_labels

REGISTRY = ["asha", "bohb", "dehb", "hyperband", "median_stopping", "mobster", "pasha", "pbt",
            "sync_hyperband", "sync_sh", "bo", "grid", "random", "rea", "tpe"]


def test_variant_labels_show_the_differing_args_only() -> None:
    runs = [("asha", '{"eta": 3, "type": "stopping"}'), ("asha", '{"eta": 2, "type": "stopping"}'),
            ("asha", '{"eta": 3}'), ("bo", '{"eta": 3}'), ("bo", '{"eta": 3}'),
            ("pbt", '{"p": [1, 2]}'), ("pbt", '{"p": [1, 3]}')]
    assert variant_labels(runs) == [
        "asha(eta=3, type=stopping)", "asha(eta=2, type=stopping)", "asha(eta=3, type=-)",
        "bo", "bo", "pbt(p=[1,2])", "pbt(p=[1,3])"]
    assert variant_labels([("x", "not json"), ("x", "{}")]) == ["x", "x"]
    assert family("asha(type=promotion)") == "multi-fidelity, random search"
    assert family("my_new_method") == "other"


def test_fifteen_methods_are_distinguishable_in_every_panel() -> None:
    styles = scheduler_styles(REGISTRY, baseline="random")
    panels = groups(REGISTRY, "random")
    assert [p.title for p in panels] == ["single-fidelity", "multi-fidelity, random search",
                                         "multi-fidelity, model-based"]
    for panel in panels:
        assert panel.members[0] == "random"  # the reference in every panel
        looks = [(styles[s]["color"], styles[s]["linestyle"], styles[s]["marker"])
                 for s in panel.members]
        assert len(set(looks)) == len(looks)
        assert len({styles[s]["color"] for s in panel.members}) == len(panel.members)
    assert sorted(s for p in panels for s in p.members if s != "random") == sorted(
        set(REGISTRY) - {"random"})
    assert styles["random"] == {"color": "black", "linestyle": "--", "marker": None,
                                "linewidth": 1.4}
    # few methods: one colour each across families too
    few = scheduler_styles(["random", "asha", "bo", "mobster"], baseline="random")
    assert len({few[s]["color"] for s in ("asha", "bo", "mobster")}) == 3


def test_highlight_panel_puts_the_rest_in_the_background() -> None:
    (panel,) = groups(REGISTRY, "random", highlight=["asha", "bo"])
    assert panel.members == ["asha", "bo", "random"]
    assert len(panel.background) == 12 and "tpe" in panel.background


def test_axes_log_x_two_decades_and_log_y_floor_without_symlog() -> None:
    fig, axes = figure(1, 2)
    ax = axes[0][0]
    ax.plot([1e-4, 1.0], [1.0, 0.0])
    log_x(ax, 1e-4, 1.0)
    assert ax.get_xscale() == "log" and ax.get_xlim() == (0.01, 1.0)
    values = np.array([0.0, 1e-6, 0.5, 1.0])
    floor = log_y_if_spread(ax, values)
    assert floor == 1e-3 and ax.get_yscale() == "log"  # floor: max / 1000, not symlog
    ax2 = axes[0][1]
    assert log_y_if_spread(ax2, np.array([0.0, 0.2, 0.5])) is None
    assert ax2.get_yscale() == "linear"
