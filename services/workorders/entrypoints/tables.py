"""Report tables for people: aligned text and bar charts (PNG), shared by ``report`` and ``ctl report``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from services.workorders.service_layer.views import Table

# Report -> (label column, value columns) of its PNG chart.
CHARTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "replacement": ("line", ("target_km", "replaced_km")),
    "inventory": ("material", ("remaining_km",)),
    "leaks-per-100km": ("district", ("leaks_per_100km",)),
    "open-work-orders": ("district", ("open",)),
    "rectification": ("district", ("found", "rectified")),
}


def format_table(table: Table) -> str:
    cells = [list(table.columns)] + [[_fmt(c) for c in row] for row in table.rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.columns))]
    lines = [table.name, "  ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        lines.append("  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(row, widths, strict=True)))
    if not table.rows:
        lines.append("(no rows)")
    return "\n".join(lines)


def parse_cell(text: str) -> object:
    """A cell as the API sends it (text) back to a number where it is one, so charts and columns align."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return float(value) if isinstance(value, str) and _numeric(value) else None


def chart_columns(table: Table) -> tuple[str, tuple[str, ...]]:
    """The label column and (up to two) value columns to chart: the report's own choice, else the first
    text column against the first numeric ones."""
    if table.name in CHARTS:
        return CHARTS[table.name]
    first = table.rows[0] if table.rows else ()
    numeric = tuple(c for c, v in zip(table.columns, first, strict=False) if _number(v) is not None)
    label = next((c for c in table.columns if c not in numeric), table.columns[0])
    return label, tuple(c for c in numeric if c != label)[:2]


def write_bar_chart(table: Table, path: Path, *, label: str, values: Sequence[str]) -> None:
    """A grouped bar chart (Agg backend) of ``values`` columns against the ``label`` column.

    Counts get whole-number ticks and every bar its value written on it: a report of 0s and 1s must not
    read as fractions on a 0-1 axis.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    label_index = table.columns.index(label)
    indices = [table.columns.index(v) for v in values]
    labels = [str(row[label_index]) for row in table.rows]
    series = [[_number(row[idx]) or 0.0 for row in table.rows] for idx in indices]
    counts = all(float(v).is_integer() for column in series for v in column)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(labels) + 2), 4.5))
    width = 0.8 / max(1, len(indices))
    for k, (name, heights) in enumerate(zip(values, series, strict=True)):
        bars = ax.bar([i + k * width for i in range(len(labels))], heights, width=width, label=name)
        ax.bar_label(bars, labels=[f"{h:.0f}" if counts else f"{h:.3g}" for h in heights], fontsize=8)
    ax.set_xticks([i + width * (len(indices) - 1) / 2 for i in range(len(labels))])
    ax.set_xticklabels(labels, rotation=30, ha="right")
    top = max((h for column in series for h in column), default=0.0)
    ax.set_ylim(0, top * 1.15 if top > 0 else 1)
    if counts:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(", ".join(values))
    ax.set_title(table.name if table.rows else f"{table.name} (no rows)")
    if values:
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
