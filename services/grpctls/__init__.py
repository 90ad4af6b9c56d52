"""TLS for Pipewarden's gRPC servers and clients: credentials from PEM files, and the peer's certificate names.

Servers: ``server_credentials(cert, key, client_ca=...)`` (a client CA turns on mutual TLS, certificates required).
Clients: ``ClientTLS.from_env(prefix)`` reads ``<prefix>TLS_CA_FILE`` (+ ``_TLS_CERT_FILE``/``_TLS_KEY_FILE`` for
mutual TLS), ``channel(target, tls)`` / ``aio_channel(target, tls)`` open a secure channel when it is set.
"""

from services.grpctls.credentials import (
    ClientTLS,
    TLSFileError,
    aio_channel,
    channel,
    peer_certificate_names,
    server_credentials,
)

__all__ = ["ClientTLS", "TLSFileError", "aio_channel", "channel", "peer_certificate_names", "server_credentials"]
