"""How schedulers look in every figure, how they are grouped into panels, and axis helpers.

Up to ~20 methods stay distinguishable because no panel shows more than one family
(single-fidelity; multi-fidelity with a random searcher; multi-fidelity, model-based):
within a family each scheduler has its own colour, each family its own marker, and the
baseline is drawn black and dashed in every panel as the common reference (its legend
entry says "(baseline)", as it may be of another family than the panel's header). With
``highlight``, one panel shows the highlighted schedulers in colour over all the others
in light grey.

Example:
    >>> styles = scheduler_styles(["random", "asha", "bo"], baseline="random")
    >>> styles["random"]["color"], styles["asha"]["marker"], styles["bo"]["marker"]
    ('black', 's', 'o')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simtune.analysis import variants
from simtune.analysis.variants import FAMILY_ORDER

COLOURS = ("C0", "C1", "C2", "C3", "C4", "C5", "C6", "C8", "C9")  # tab10 without grey
MARKERS = {"single-fidelity": "o", "multi-fidelity, random search": "s",
           "multi-fidelity, model-based": "^", "other": "D"}
LINESTYLES = ("-", (0, (5, 1.5)), (0, (1, 1)))
BACKGROUND = {"color": "0.75", "linestyle": "-", "linewidth": 0.8, "marker": None}
Styles = dict[str, dict]  # scheduler -> matplotlib line properties


def scheduler_styles(labels: list[str], baseline: str | None = None,
                     families: dict[str, str] | None = None) -> Styles:
    """Line properties per scheduler: a colour of its own (names sorted by family) if
    there are at most len(COLOURS), else by position within its family; marker by
    family (``families``: label -> family, default variants.family); the baseline black
    and dashed. The same in every figure."""
    family = _family_of(families)
    styles: Styles = {}
    unique = len(set(labels) - {baseline}) <= len(COLOURS)
    offset = 0
    for fam in FAMILY_ORDER:
        members = [s for s in sorted(set(labels)) if family(s) == fam and s != baseline]
        for i, name in enumerate(members, start=offset if unique else 0):
            styles[name] = {"color": COLOURS[i % len(COLOURS)],
                            "linestyle": LINESTYLES[(i // len(COLOURS)) % len(LINESTYLES)],
                            "marker": MARKERS[fam], "linewidth": 1.4}
        offset += len(members)
    if baseline is not None and baseline in labels:
        styles[baseline] = {"color": "black", "linestyle": "--", "marker": None,
                            "linewidth": 1.4}
    return styles


def _family_of(families: dict[str, str] | None):
    """label -> family: from ``families`` where given, else variants.family."""
    return lambda label: (families or {}).get(label) or variants.family(label)


@dataclass
class Group:
    """One panel's schedulers: drawn in colour (members) or in grey (background)."""

    title: str
    members: list[str]
    background: list[str] = field(default_factory=list)


def groups(labels: list[str], baseline: str | None, highlight: list[str] | None = None,
           families: dict[str, str] | None = None) -> list[Group]:
    """Panels of schedulers: one per family present (the baseline in each, whatever its
    own family), or one highlight panel with the rest in the background."""
    family = _family_of(families)
    labels = sorted(set(labels))
    base = [baseline] if baseline in labels else []
    if highlight:
        members = [s for s in labels if s in highlight or s in base]
        return [Group("highlighted: " + ", ".join(s for s in members if s not in base),
                      members, [s for s in labels if s not in members])]
    out = []
    for fam in FAMILY_ORDER:
        members = [s for s in labels if family(s) == fam and s not in base]
        if members:
            out.append(Group(fam, base + members))
    return out or [Group("all", labels)]


def figure(nrows: int, ncols: int, size: tuple[float, float] = (4.6, 3.4),
           legend_rows: int = 0):
    """A constrained-layout Figure with nrows x ncols axes (a 2-d array). With
    ``legend_rows`` > 0, a first row of empty axes (one per column) holds legends of up to
    that many lines, so they never cover data or titles: (fig, axes, legend_axes)."""
    from matplotlib.figure import Figure

    top = 0.3 + 0.19 * legend_rows if legend_rows else 0.0
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows + top), layout="constrained")
    if not legend_rows:
        return fig, fig.subplots(nrows, ncols, squeeze=False)
    grid = fig.add_gridspec(nrows + 1, ncols, height_ratios=[top] + [size[1]] * nrows)
    tops = [fig.add_subplot(grid[0, c]) for c in range(ncols)]
    for ax in tops:
        ax.axis("off")
    axes = np.array([[fig.add_subplot(grid[r + 1, c]) for c in range(ncols)]
                     for r in range(nrows)])
    return fig, axes, tops


def save(fig, path: Path) -> list[Path]:
    """Write ``path`` as .png and .pdf (no creation date: same runs, same bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = [path.with_suffix(".png"), path.with_suffix(".pdf")]
    fig.savefig(out[0], dpi=120)
    fig.savefig(out[1], metadata={"CreationDate": None})
    return out


def legend(ax, styles: Styles, names: list[str], background: list[str] | None = None,
           ncols: int = 2, title: str | None = None, baseline: str | None = None) -> None:
    """A legend filling ``ax`` (an empty axes of a legend row, see figure), one entry
    per name in order (``baseline`` marked as such: it is in every panel, whatever its
    family), and one for the grey background schedulers."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], **styles[n], label=f"{n} (baseline)" if n == baseline else n)
               for n in names]
    if background:
        handles.append(Line2D([], [], **BACKGROUND, label=f"other ({len(background)})"))
    ax.legend(handles=handles, loc="lower center", ncols=ncols, fontsize="small",
              frameon=False, title=title, title_fontproperties={"size": "small",
                                                                "weight": "bold"},
              borderaxespad=0.0)


def figure_legend(fig, styles: Styles, names: list[str], ncols: int = 3) -> None:
    """One legend for the whole figure, below its panels (constrained layout makes room)."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], **styles[n], label=n) for n in names]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(ncols, len(handles)),
               fontsize="small", frameon=False)


def title(fig, text: str, fontsize: str = "medium") -> None:
    """A figure title wrapped to the figure's width (each paragraph of ``text`` apart), so
    that it never runs past the figure's edges (line widths measured in the font)."""
    import textwrap

    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    font = FontProperties(size=fontsize)
    dpi = 72.0
    room = 0.96 * fig.get_figwidth() * dpi
    renderer = RendererAgg(1, 1, dpi)

    def fits(line: str) -> bool:
        return renderer.get_text_width_height_descent(line, font, ismath=False)[0] <= room

    lines = []
    for paragraph in text.split("\n"):
        width = max(len(paragraph), 1)
        wrapped = [paragraph]
        while width > 20 and not all(map(fits, wrapped)):
            width -= 2
            wrapped = textwrap.wrap(paragraph, width) or [""]
        lines += wrapped
    fig.suptitle("\n".join(lines), fontsize=fontsize)


def legend_rows(panels: list, ncols: int = 2) -> int:
    """Lines the tallest legend of ``panels`` (styles.Group) needs with ``ncols`` columns."""
    return max(math.ceil((len(p.members) + bool(p.background)) / ncols) for p in panels) + 1


def line(ax, x, y, style: dict, label: str | None = None, band=None, n_marks: int = 6) -> None:
    """A step curve with a few markers (and a shaded band lo..hi if given)."""
    every = max(1, len(x) // n_marks)
    ax.plot(x, y, **style, label=label, drawstyle="steps-post", markevery=every,
            markersize=4)
    if band is not None:
        ax.fill_between(x, band[0], band[1], color=style["color"], alpha=0.15, linewidth=0,
                        step="post")


def x_left(first: float, right: float, is_log: bool) -> float:
    """The left end of an x axis that starts at ``first``: on a log axis at most two
    decades before ``right``, so the last decade gets at least half the width."""
    return max(first, right / 100) if is_log else first


def log_x(ax, left: float, right: float) -> None:
    """Log x axis from ``x_left(left, right, True)`` to ``right`` (earlier points are
    off the axis, not squeezed), with ticks at 1, 2 and 5 of each decade."""
    ax.set_xscale("log")
    set_x(ax, x_left(left, right, True), right)
    log_ticks(ax.xaxis)


def log_ticks(axis) -> None:
    """Ticks of a log axis labelled as plain numbers (0.02, 0.5, 10, 2000): at 1, 2 and 5
    of each decade where the axis spans up to three decades, else at the decades (with
    unlabelled minor ticks)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    lo, hi = sorted(axis.get_view_interval())
    decades = math.log10(hi / lo) if lo > 0 and hi > 0 else math.inf
    subs = (1.0, 2.0, 5.0) if decades <= 3 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def set_x(ax, left: float, right: float) -> None:
    """x limits, unless they would be one point (then matplotlib's own)."""
    if left < right:
        ax.set_xlim(left, right)


def fit_y(ax, values: np.ndarray, floor: float | None) -> None:
    """y limits around the ``values`` in view (those off the x axis do not stretch it).
    0 is included only when it is near: when it widens the range at most twofold
    (values of 0.90 to 0.97 get an axis of about 0.90 to 0.97, not 0 to 1)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not values.size:
        return
    if floor:
        ax.set_ylim(floor * 0.8, max(values.max(), floor) * 1.5)
        return
    lo, hi = values.min(), values.max()
    if 0 < lo <= hi - lo:
        lo = 0.0
    elif lo <= hi < 0 and hi - lo >= -hi:
        hi = 0.0
    pad = 0.04 * (hi - lo) or 0.05 * (abs(hi) or 1.0)
    ax.set_ylim(lo - pad, hi + pad)


def log_y_if_spread(ax, values: np.ndarray, floor_ratio: float = 1e-3) -> float | None:
    """Log y axis if the positive values span > 2 decades. Values at or below the floor
    (max * floor_ratio, or the smallest positive value if larger) are to be drawn at it:
    returns the floor (None for a linear axis). No symlog: a log axis has no zero."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    positive = values[values > 0]
    if not positive.size:
        return None
    floor = max(float(positive.min()), float(positive.max()) * floor_ratio)
    if positive.max() / floor <= 100:
        return None
    ax.set_yscale("log")
    ax.set_ylim(bottom=floor * 0.8)
    return floor


def panel_grid(n: int, ncols: int, size: tuple[float, float]):
    """(fig, axes): n panels in rows of at most ncols, the unused ones hidden."""
    ncols = max(1, min(ncols, n))
    fig, axes = figure(math.ceil(n / ncols), ncols, size=size)
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]
