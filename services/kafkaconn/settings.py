"""Kafka connection security settings shared by every client (aiokafka, kafka-python, faust).

Environment (all optional; unset = PLAINTEXT, today's behaviour):

    PIPEWARDEN_KAFKA_SECURITY_PROTOCOL   PLAINTEXT | SSL | SASL_SSL
    PIPEWARDEN_KAFKA_SASL_MECHANISM      SCRAM-SHA-512 | SCRAM-SHA-256 (SASL_SSL only; default SCRAM-SHA-512)
    PIPEWARDEN_KAFKA_SASL_USERNAME       the SCRAM user (SASL_SSL only)
    PIPEWARDEN_KAFKA_SASL_PASSWORD_FILE  a file holding the SCRAM password (first line; never on argv or in logs)
    PIPEWARDEN_KAFKA_SSL_CAFILE          PEM bundle of the CA(s) the broker's certificate is checked against
                                         (unset: the system's trust store)
    PIPEWARDEN_KAFKA_SSL_CERTFILE        client certificate (PEM) for mutual TLS, with ...
    PIPEWARDEN_KAFKA_SSL_KEYFILE         ... its private key (PEM); both or neither

SASL over plain TCP (SASL_PLAINTEXT) is refused on purpose: SCRAM keeps the password off the wire, but the
records and the session would still travel in the clear.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "PIPEWARDEN_KAFKA_"
PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_SSL")
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")


class KafkaSecurityError(ValueError):
    """A Kafka security setting that cannot be used; the message names the variable or file."""


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    sasl_username: str | None = None
    # The password stays in its file until a client is built; repr never shows it.
    sasl_password_file: Path | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    _password: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        p = ENV_PREFIX
        if self.protocol not in PROTOCOLS:
            raise KafkaSecurityError(
                f"{p}SECURITY_PROTOCOL must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}"
            )
        if self.sasl_mechanism not in SASL_MECHANISMS:
            raise KafkaSecurityError(
                f"{p}SASL_MECHANISM must be one of {', '.join(SASL_MECHANISMS)}, got {self.sasl_mechanism!r}"
            )
        if self.protocol == "SASL_SSL":
            if not self.sasl_username:
                raise KafkaSecurityError(f"{p}SECURITY_PROTOCOL=SASL_SSL needs {p}SASL_USERNAME")
            if self.sasl_password_file is None and self._password is None:
                raise KafkaSecurityError(f"{p}SECURITY_PROTOCOL=SASL_SSL needs {p}SASL_PASSWORD_FILE")
        elif self.sasl_username or self.sasl_password_file:
            raise KafkaSecurityError(
                f"{p}SASL_USERNAME / {p}SASL_PASSWORD_FILE are set but {p}SECURITY_PROTOCOL is {self.protocol}"
                " (SASL needs SASL_SSL)"
            )
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise KafkaSecurityError(f"{p}SSL_CERTFILE and {p}SSL_KEYFILE must be set together")
        if self.protocol == "PLAINTEXT" and (self.ssl_cafile or self.ssl_certfile):
            raise KafkaSecurityError(f"{p}SSL_* files are set but {p}SECURITY_PROTOCOL is PLAINTEXT")
        for name, path in (("SSL_CAFILE", self.ssl_cafile), ("SSL_CERTFILE", self.ssl_certfile),
                           ("SSL_KEYFILE", self.ssl_keyfile), ("SASL_PASSWORD_FILE", self.sasl_password_file)):
            if path is not None and not path.is_file():
                raise KafkaSecurityError(f"{p}{name} {path}: no such file")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaSecurity:
        env = os.environ if env is None else env
        p = ENV_PREFIX

        def opt(name: str) -> str | None:
            value = env.get(p + name, "").strip()
            return value or None

        def path(name: str) -> Path | None:
            value = opt(name)
            return Path(value) if value else None

        return cls(
            protocol=(opt("SECURITY_PROTOCOL") or "PLAINTEXT").upper(),
            sasl_mechanism=(opt("SASL_MECHANISM") or "SCRAM-SHA-512").upper(),
            sasl_username=opt("SASL_USERNAME"),
            sasl_password_file=path("SASL_PASSWORD_FILE"),
            ssl_cafile=path("SSL_CAFILE"),
            ssl_certfile=path("SSL_CERTFILE"),
            ssl_keyfile=path("SSL_KEYFILE"),
        )

    @classmethod
    def with_password(cls, password: str, **settings: Any) -> KafkaSecurity:
        """Settings whose SCRAM password is given in memory (tests, tools that read it elsewhere)."""
        return cls(_password=password, **settings)

    # --- derived -----------------------------------------------------------------------------------
    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def env(self) -> dict[str, str]:
        """The ``PIPEWARDEN_KAFKA_*`` variables that give these settings to a child process (no secrets)."""
        if self._password is not None and self.sasl_password_file is None:
            raise KafkaSecurityError("settings with an in-memory password cannot be handed to a process")
        out = {ENV_PREFIX + "SECURITY_PROTOCOL": self.protocol}
        if self.protocol == "SASL_SSL":
            out[ENV_PREFIX + "SASL_MECHANISM"] = self.sasl_mechanism
            out[ENV_PREFIX + "SASL_USERNAME"] = self.sasl_username or ""
            out[ENV_PREFIX + "SASL_PASSWORD_FILE"] = str(self.sasl_password_file)
        for name, value in (("SSL_CAFILE", self.ssl_cafile), ("SSL_CERTFILE", self.ssl_certfile),
                            ("SSL_KEYFILE", self.ssl_keyfile)):
            if value is not None:
                out[ENV_PREFIX + name] = str(value)
        return out

    def password(self) -> str:
        if self._password is not None:
            return self._password
        if self.sasl_password_file is None:
            raise KafkaSecurityError(f"no {ENV_PREFIX}SASL_PASSWORD_FILE")
        try:
            lines = self.sasl_password_file.read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise KafkaSecurityError(f"{ENV_PREFIX}SASL_PASSWORD_FILE {self.sasl_password_file}: {error}") from None
        if not lines or not lines[0].strip():
            raise KafkaSecurityError(f"{ENV_PREFIX}SASL_PASSWORD_FILE {self.sasl_password_file} is empty")
        return lines[0].strip()

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client context that checks the broker's certificate and host name (None for PLAINTEXT)."""
        if not self.uses_tls:
            return None
        try:
            context = ssl.create_default_context(
                ssl.Purpose.SERVER_AUTH, cafile=str(self.ssl_cafile) if self.ssl_cafile else None
            )
            if self.ssl_certfile is not None:
                context.load_cert_chain(str(self.ssl_certfile), str(self.ssl_keyfile))
        except (OSError, ssl.SSLError) as error:
            raise KafkaSecurityError(f"Kafka TLS files ({self.ssl_cafile}, {self.ssl_certfile}): {error}") from None
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer / AIOKafkaConsumer / AIOKafkaAdminClient."""
        if self.protocol == "PLAINTEXT":
            return {}
        kwargs: dict[str, Any] = {"security_protocol": self.protocol, "ssl_context": self.ssl_context()}
        if self.protocol == "SASL_SSL":
            kwargs.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.sasl_username,
                          sasl_plain_password=self.password())
        return kwargs

    def kafka_python_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's KafkaProducer / KafkaConsumer / KafkaAdminClient."""
        # kafka-python takes the same names for these settings as aiokafka.
        return self.aiokafka_kwargs()

    def java_client_properties(self) -> dict[str, str]:
        """The same settings as Java client properties (Kafka's own tools: ``--command-config``). They hold the
        password and the client key: write them only to a 0600 file, one ``key=value`` a line (the PEM values
        carry their line breaks as ``\\n``, which Java's properties reader turns back into line breaks)."""
        if self.protocol == "PLAINTEXT":
            return {}
        props = {"security.protocol": self.protocol}
        if self.ssl_cafile is not None:
            props.update({"ssl.truststore.type": "PEM", "ssl.truststore.location": str(self.ssl_cafile.resolve())})
        if self.ssl_certfile is not None and self.ssl_keyfile is not None:  # mutual TLS: the PEM key and chain inline
            try:
                chain, key = self.ssl_certfile.read_text(encoding="ascii"), self.ssl_keyfile.read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as error:
                raise KafkaSecurityError(f"{ENV_PREFIX}SSL_CERTFILE / _SSL_KEYFILE: {error}") from None
            if "ENCRYPTED" in key:
                raise KafkaSecurityError(f"{ENV_PREFIX}SSL_KEYFILE {self.ssl_keyfile}: an encrypted key cannot be "
                                         "given to Java clients (unencrypted PKCS#8 PEM, 0600)")
            props.update({"ssl.keystore.type": "PEM",
                          "ssl.keystore.certificate.chain": chain.strip().replace("\n", "\\n"),
                          "ssl.keystore.key": key.strip().replace("\n", "\\n")})
        if self.protocol == "SASL_SSL":
            password = self.password()
            if any(c in password for c in '"\\\n'):
                raise KafkaSecurityError(f"{ENV_PREFIX}SASL_PASSWORD_FILE: a password with quotes or backslashes "
                                         "cannot be given to Java clients")
            props["sasl.mechanism"] = self.sasl_mechanism
            props["sasl.jaas.config"] = ("org.apache.kafka.common.security.scram.ScramLoginModule required "
                                         f'username="{self.sasl_username}" password="{password}";')
        return props

    def faust_credentials(self) -> Any:
        """faust's ``broker_credentials`` (None for PLAINTEXT)."""
        if self.protocol == "PLAINTEXT":
            return None
        import faust

        if self.protocol == "SSL":
            return faust.SSLCredentials(self.ssl_context())
        return faust.SASLCredentials(username=self.sasl_username, password=self.password(),
                                     ssl_context=self.ssl_context(), mechanism=self.sasl_mechanism)
