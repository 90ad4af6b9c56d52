"""The network schematic: segments drawn from node map positions, coloured by status, leaks marked."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Worst first: a segment shows the most urgent of its statuses.
STATUS_ORDER = ("alarm", "fault", "problem", "normal")


@dataclass(frozen=True, slots=True)
class NodePoint:
    node_id: str
    x_m: float
    y_m: float


@dataclass(frozen=True, slots=True)
class SegmentLine:
    segment_id: str
    district: str
    from_node: str
    to_node: str
    length_m: float


@dataclass(frozen=True, slots=True)
class LeakMark:
    segment_id: str
    work_order_id: str
    position_m: float
    low_m: float
    high_m: float


@dataclass(frozen=True, slots=True)
class DrawnSegment:
    segment_id: str
    district: str
    x1: float
    y1: float
    x2: float
    y2: float
    status: str


@dataclass(frozen=True, slots=True)
class DrawnLeak:
    segment_id: str
    work_order_id: str
    x: float
    y: float
    # The 95 % interval along the segment, as a line.
    lx1: float
    ly1: float
    lx2: float
    ly2: float


@dataclass(frozen=True, slots=True)
class DrawnNode:
    node_id: str
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Schematic:
    width: float
    height: float
    segments: tuple[DrawnSegment, ...]
    nodes: tuple[DrawnNode, ...]
    leaks: tuple[DrawnLeak, ...]
    missing_positions: tuple[str, ...]


def segment_status(segment_id: str, alarms: set[str], faults: set[str], problems: set[str]) -> str:
    for status, members in zip(STATUS_ORDER, (alarms, faults, problems), strict=False):
        if segment_id in members:
            return status
    return "normal"


def _along(line: tuple[tuple[float, float], tuple[float, float], float], position_m: float) -> tuple[float, float]:
    # Schematic lines are straight: a position along the pipe maps to the same fraction of the line.
    (x1, y1), (x2, y2), length_m = line
    f = min(max(position_m / length_m, 0.0), 1.0) if length_m > 0 else 0.5
    return (round(x1 + f * (x2 - x1), 1), round(y1 + f * (y2 - y1), 1))


def draw(
    nodes: Iterable[NodePoint],
    segments: Iterable[SegmentLine],
    *,
    alarms: Iterable[str] = (),
    faults: Iterable[str] = (),
    problems: Iterable[str] = (),
    leaks: Iterable[LeakMark] = (),
    width: float = 1000.0,
    margin: float = 40.0,
) -> Schematic:
    """Scale map positions (m east/north) into an SVG box ``width`` wide (y grows downwards in SVG).
    Segments whose nodes have no position are left out and named in ``missing_positions``."""
    points: Mapping[str, NodePoint] = {n.node_id: n for n in nodes}
    segs = list(segments)
    if not points:
        return Schematic(width, width / 2, (), (), (), tuple(s.segment_id for s in segs))
    xs = [p.x_m for p in points.values()]
    ys = [p.y_m for p in points.values()]
    span_x = max(max(xs) - min(xs), 1.0)
    span_y = max(max(ys) - min(ys), 1.0)
    scale = (width - 2 * margin) / max(span_x, span_y)
    height = span_y * scale + 2 * margin

    def to_svg(p: NodePoint) -> tuple[float, float]:
        return (round(margin + (p.x_m - min(xs)) * scale, 1), round(margin + (max(ys) - p.y_m) * scale, 1))

    alarm_set, fault_set, problem_set = set(alarms), set(faults), set(problems)
    drawn: list[DrawnSegment] = []
    missing: list[str] = []
    ends: dict[str, tuple[tuple[float, float], tuple[float, float], float]] = {}
    for s in segs:
        a, b = points.get(s.from_node), points.get(s.to_node)
        if a is None or b is None:
            missing.append(s.segment_id)
            continue
        (x1, y1), (x2, y2) = to_svg(a), to_svg(b)
        ends[s.segment_id] = ((x1, y1), (x2, y2), s.length_m)
        drawn.append(
            DrawnSegment(s.segment_id, s.district, x1, y1, x2, y2,
                         segment_status(s.segment_id, alarm_set, fault_set, problem_set))
        )
    drawn_leaks: list[DrawnLeak] = []
    for leak in leaks:
        if leak.segment_id not in ends:
            continue
        line = ends[leak.segment_id]
        (x, y), (lx1, ly1), (lx2, ly2) = (_along(line, leak.position_m), _along(line, leak.low_m),
                                          _along(line, leak.high_m))
        drawn_leaks.append(DrawnLeak(leak.segment_id, leak.work_order_id, x, y, lx1, ly1, lx2, ly2))
    drawn_nodes = tuple(DrawnNode(n.node_id, *to_svg(n)) for n in points.values())
    return Schematic(width, round(height, 1), tuple(drawn), drawn_nodes, tuple(drawn_leaks), tuple(missing))
