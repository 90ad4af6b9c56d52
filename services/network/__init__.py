"""The pipeline network model: one source of truth for segments, nodes, instruments and gateways.

Every service loads the same file (``PIPEWARDEN_NETWORK_FILE``, default: the shipped demo city)::

    >>> from services.network import load_demo_network, TagKind
    >>> network = load_demo_network()
    >>> segment = network.segments["DS-M01"]
    >>> network.end_tag("DS-M01", TagKind.PRESSURE, upstream=True).position_m
    0.0
"""

from ._loader import DEMO_NETWORK_PATH, NetworkFileError, load_demo_network, load_network, parse_network
from .model import (
    Accuracy,
    AccuracyBasis,
    EquationOfState,
    ErrorTerms,
    GasProperties,
    Gateway,
    Network,
    Node,
    NodeKind,
    PipeClass,
    Segment,
    Tag,
    TagKind,
)
from .units import SI_UNIT, STANDARD_ATMOSPHERE_PA, LinearConversion, conversion_to_si, supported_units

__all__ = [
    "DEMO_NETWORK_PATH",
    "SI_UNIT",
    "STANDARD_ATMOSPHERE_PA",
    "Accuracy",
    "AccuracyBasis",
    "EquationOfState",
    "ErrorTerms",
    "GasProperties",
    "Gateway",
    "LinearConversion",
    "Network",
    "NetworkFileError",
    "Node",
    "NodeKind",
    "PipeClass",
    "Segment",
    "Tag",
    "TagKind",
    "conversion_to_si",
    "load_demo_network",
    "load_network",
    "parse_network",
    "supported_units",
]
