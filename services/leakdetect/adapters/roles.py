"""Which detector role each tag of a segment plays (flow in/out, pressure up/down, temperature, methane)."""

from __future__ import annotations

from services.network import Network, TagKind

# The numeric core's role indices (services.leakdetect.domain.layout ROLE_*).
ROLE_FLOW_IN = 0
ROLE_FLOW_OUT = 1
ROLE_PRESSURE_UP = 2
ROLE_PRESSURE_DOWN = 3
ROLE_TEMPERATURE = 4
ROLE_METHANE_0 = 5
N_METHANE = 3


def tag_roles(network: Network, segment_id: str) -> dict[str, int]:
    roles: dict[str, int] = {}
    ends = (
        (TagKind.FLOW, True, ROLE_FLOW_IN),
        (TagKind.FLOW, False, ROLE_FLOW_OUT),
        (TagKind.PRESSURE, True, ROLE_PRESSURE_UP),
        (TagKind.PRESSURE, False, ROLE_PRESSURE_DOWN),
    )
    for kind, upstream, role in ends:
        tag = network.end_tag(segment_id, kind, upstream=upstream)
        if tag is not None:
            roles[tag.tag_id] = role
    methane = 0
    for tag in network.tags_of_segment(segment_id):
        if tag.kind is TagKind.TEMPERATURE and ROLE_TEMPERATURE not in roles.values():
            roles[tag.tag_id] = ROLE_TEMPERATURE
        elif tag.kind is TagKind.METHANE_LEL and methane < N_METHANE:
            roles[tag.tag_id] = ROLE_METHANE_0 + methane
            methane += 1
    return roles
