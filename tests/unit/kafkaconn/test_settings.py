"""services.kafkaconn: environment in, client keyword arguments out; every unusable setting named."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from deploy.local.pki import ensure_ca
from services.kafkaconn import KafkaSecurity, KafkaSecurityError

P = "PIPEWARDEN_KAFKA_"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_ca(tmp_path_factory.mktemp("ca")).cert


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password"
    path.write_text("s3cret-pass\n", encoding="utf-8")
    return path


def test_nothing_set_is_plaintext_with_no_extra_arguments() -> None:
    security = KafkaSecurity.from_env({})
    assert security.protocol == "PLAINTEXT"
    assert security.aiokafka_kwargs() == {} and security.kafka_python_kwargs() == {}
    assert security.faust_credentials() is None and security.ssl_context() is None


def test_sasl_ssl_from_the_environment(ca: Path, password_file: Path) -> None:
    env = {P + "SECURITY_PROTOCOL": "sasl_ssl", P + "SASL_MECHANISM": "scram-sha-256", P + "SASL_USERNAME": "svc",
           P + "SASL_PASSWORD_FILE": str(password_file), P + "SSL_CAFILE": str(ca)}
    security = KafkaSecurity.from_env(env)
    kwargs = security.aiokafka_kwargs()
    assert kwargs["security_protocol"] == "SASL_SSL" and kwargs["sasl_mechanism"] == "SCRAM-SHA-256"
    assert kwargs["sasl_plain_username"] == "svc" and kwargs["sasl_plain_password"] == "s3cret-pass"
    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    credentials = security.faust_credentials()
    assert credentials.username == "svc" and credentials.mechanism.value == "SCRAM-SHA-256"
    assert credentials.protocol.value == "SASL_SSL"
    # The password stays in its file: neither the settings' repr nor the environment handed on holds it.
    assert "s3cret" not in repr(security) and "s3cret" not in repr(credentials)
    assert "s3cret" not in str(security.env()) and KafkaSecurity.from_env(security.env()) == security


def test_ssl_only(ca: Path) -> None:
    security = KafkaSecurity.from_env({P + "SECURITY_PROTOCOL": "SSL", P + "SSL_CAFILE": str(ca)})
    assert security.aiokafka_kwargs()["security_protocol"] == "SSL"
    assert "sasl_mechanism" not in security.aiokafka_kwargs()
    assert security.faust_credentials().protocol.value == "SSL"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({P + "SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "SECURITY_PROTOCOL must be one of"),
        ({P + "SECURITY_PROTOCOL": "\x00garbage"}, "SECURITY_PROTOCOL must be one of"),
        ({P + "SECURITY_PROTOCOL": "SASL_SSL", P + "SASL_MECHANISM": "PLAIN", P + "SASL_USERNAME": "u",
          P + "SASL_PASSWORD_FILE": "{pw}"}, "SASL_MECHANISM must be one of"),
        ({P + "SECURITY_PROTOCOL": "SASL_SSL", P + "SASL_PASSWORD_FILE": "{pw}"}, "needs .*SASL_USERNAME"),
        ({P + "SECURITY_PROTOCOL": "SASL_SSL", P + "SASL_USERNAME": "u"}, "needs PIPEWARDEN_KAFKA_SASL_PASSWORD_FILE"),
        ({P + "SASL_USERNAME": "u"}, "SASL needs SASL_SSL"),
        ({P + "SSL_CAFILE": "{pw}"}, "SECURITY_PROTOCOL is PLAINTEXT"),
        ({P + "SECURITY_PROTOCOL": "SSL", P + "SSL_CERTFILE": "{pw}"}, "must be set together"),
        ({P + "SECURITY_PROTOCOL": "SSL", P + "SSL_CAFILE": "/nonexistent/ca.pem"}, "SSL_CAFILE /nonexistent/ca.pem"),
        ({P + "SECURITY_PROTOCOL": "SASL_SSL", P + "SASL_USERNAME": "u", P + "SASL_PASSWORD_FILE": "/nope"},
         "SASL_PASSWORD_FILE /nope: no such file"),
    ],
)
def test_unusable_settings_are_refused_naming_the_variable(
    env: dict[str, str], message: str, password_file: Path
) -> None:
    env = {k: v.replace("{pw}", str(password_file)) for k, v in env.items()}
    with pytest.raises(KafkaSecurityError, match=message):
        KafkaSecurity.from_env(env)


def test_an_empty_password_file_and_a_garbage_ca_are_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    security = KafkaSecurity(protocol="SASL_SSL", sasl_username="u", sasl_password_file=empty)
    with pytest.raises(KafkaSecurityError, match="is empty"):
        security.aiokafka_kwargs()
    garbage = tmp_path / "ca.pem"
    garbage.write_bytes(b"\x00\xffnot a certificate")
    with pytest.raises(KafkaSecurityError, match="Kafka TLS files"):
        KafkaSecurity(protocol="SSL", ssl_cafile=garbage).ssl_context()


def test_java_properties_carry_the_client_certificate_inline(tmp_path: Path) -> None:
    """Kafka's Java tools get the client certificate and key (mutual TLS) as PEM values whose line breaks are
    written ``\\n`` (one ``key=value`` line each; Java's properties reader restores them)."""
    from deploy.local.pki import ensure_ca, issue_client

    ca = ensure_ca(tmp_path / "ca")
    client = issue_client(ca, tmp_path / "ca", "pipewarden-service")
    props = KafkaSecurity(protocol="SSL", ssl_cafile=ca.cert, ssl_certfile=client.cert,
                          ssl_keyfile=client.key).java_client_properties()
    assert props["ssl.keystore.type"] == "PEM"
    for name, source in (("ssl.keystore.certificate.chain", client.cert), ("ssl.keystore.key", client.key)):
        assert "\n" not in props[name] and props[name].replace("\\n", "\n") == source.read_text().strip()
