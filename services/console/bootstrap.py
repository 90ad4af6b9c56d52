"""The console's composition root: the one place adapters are chosen and wired into the app."""

from __future__ import annotations

from services.console.adapters.clock import SystemClock
from services.console.adapters.leakdetect_grpc import GrpcLeakQuery
from services.console.adapters.tokens import JwtIssuer
from services.console.adapters.users import UsersFile
from services.console.adapters.workorders_grpc import GrpcWorkOrders
from services.console.config import ConsoleConfig
from services.console.domain.schematic import NodePoint, SegmentLine
from services.console.entrypoints.web import ConsoleDeps, create_app
from services.console.service_layer.live import LiveHub
from services.network import load_demo_network
from services.network.model import Network
from services.tokens import signing_key_file


def network_drawing(network: Network) -> tuple[tuple[NodePoint, ...], tuple[SegmentLine, ...]]:
    nodes = tuple(NodePoint(n.node_id, n.x_m, n.y_m) for n in network.nodes.values()
                  if n.x_m is not None and n.y_m is not None)
    segments = tuple(SegmentLine(s.segment_id, s.district, s.from_node, s.to_node, s.length_m)
                     for s in network.segments.values())
    return nodes, segments


def build_deps(config: ConsoleConfig) -> ConsoleDeps:
    from services.network import load_network

    network = load_network(config.network_file) if config.network_file else load_demo_network()
    api = GrpcWorkOrders(config.workorders_address, tls=config.grpc_tls)
    tokens = JwtIssuer(signing_key_file(config.jwt_signing_key_file).current, config.session_ttl_s)
    leak = GrpcLeakQuery(config.leakdetect_addresses, tokens.service_token, tls=config.grpc_tls)
    nodes, segments = network_drawing(network)

    async def close() -> None:
        await api.close()
        await leak.close()

    return ConsoleDeps(
        api=api, leak=leak, users=UsersFile.load(config.users_file), tokens=tokens, clock=SystemClock(),
        hub=LiveHub(api, tokens.service_token), districts=network.districts, nodes=nodes, segments=segments,
        session_secret=config.session_secret, session_ttl_s=config.session_ttl_s,
        secure_cookies=config.secure_cookies, make_safe_sla_s=config.make_safe_sla_s, max_live=config.max_live,
        on_shutdown=close,
    )


def register_metrics(hub: LiveHub) -> None:
    from prometheus_client import Gauge

    Gauge("pipewarden_console_live_connections", "browsers holding the live feed (SSE)").set_function(
        lambda: hub.subscribers)
    Gauge("pipewarden_console_watch_connected", "1 while the Watch stream of workorders is open").set_function(
        lambda: 1.0 if hub.connected else 0.0)
    Gauge("pipewarden_console_watch_position", "last global position received on Watch").set_function(
        lambda: hub.position)
    Gauge("pipewarden_console_watch_reconnects", "Watch reconnects since start").set_function(
        lambda: hub.reconnects)


def serve(config: ConsoleConfig) -> None:
    import uvicorn

    from services.observability import configure_logging, start_metrics_server

    configure_logging("console", config.log_level)
    deps = build_deps(config)
    app = create_app(deps)
    if config.metrics_port >= 0:
        register_metrics(deps.hub)
        start_metrics_server(config.metrics_port)
    print(f"console serving on http://{config.address}", flush=True)
    uvicorn.run(app, host=config.host, port=config.port, log_config=None, access_log=False,
                timeout_graceful_shutdown=3, lifespan="on")
