"""A grouped bar chart of each mode's time relative to the reference mode,
per workload (log scale, bars start at 1: faster modes point down), saved as
PNG with matplotlib."""

from __future__ import annotations

from . import modes


def save(path, records: list, reference: str, title: str) -> bool:
    """Writes the chart; returns False (and writes nothing) without matplotlib
    or without a mode to compare."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return False
    workloads = list(dict.fromkeys(r["workload"] for r in records))
    shown = [
        m
        for m in modes.MODES
        if m != reference and any(r["mode"] == m and "ratio" in r for r in records)
    ]
    if not shown:
        return False
    width = 0.8 / len(shown)
    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(workloads)), 4.5))
    for k, mode in enumerate(shown):
        ratios = {r["workload"]: r["ratio"] for r in records if r["mode"] == mode and "ratio" in r}
        xs = [
            i + (k - (len(shown) - 1) / 2) * width for i, w in enumerate(workloads) if w in ratios
        ]
        heights = [ratios[w] - 1 for w in workloads if w in ratios]
        ax.bar(xs, heights, width, bottom=1.0, label=mode)  # from 1: faster bars point down
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xticks(range(len(workloads)), workloads, rotation=20)
    ax.set_ylabel(f"time / {reference} time (lower is faster)")
    ax.set_title(title)
    ax.legend(fontsize="small", ncol=min(3, len(shown)))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
