"""services.tokens: what a verifier accepts and refuses, key sets and rollover, the operators' CLI."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

from services.tokens import (
    LEAKDETECT_AUDIENCE,
    WORKORDERS_AUDIENCE,
    InvalidToken,
    KeyFileError,
    KeySet,
    TokenIssuer,
    TokenVerifier,
    bearer_from_metadata,
    generate_signing_key,
    key_set_file,
    load_key_set,
    load_signing_key,
    rotate,
    signing_key_file,
    write_key_set,
    write_signing_key,
)

ROOT = Path(__file__).resolve().parents[3]
NOW = 1_800_000_000.0
KEY = generate_signing_key()
ISSUER = TokenIssuer(KEY, clock=lambda: NOW)


def verifier(keys: KeySet | None = None, **kwargs: object) -> TokenVerifier:
    return TokenVerifier(keys if keys is not None else KeySet([KEY.public]), audience=WORKORDERS_AUDIENCE,
                         clock=lambda: NOW, **kwargs)  # type: ignore[arg-type]


def refused(token: str, reason: str, match: str | None = None, v: TokenVerifier | None = None) -> InvalidToken:
    with pytest.raises(InvalidToken, match=match) as caught:
        (v or verifier()).verify(token)
    assert caught.value.reason == reason
    assert token[-20:] not in str(caught.value) or not token  # the message never repeats the token
    return caught.value


def forge(claims: dict[str, object], *, kid: str | None = None, key: object = None, alg: str = "EdDSA") -> str:
    return jwt.encode(claims, key if key is not None else KEY.private, algorithm=alg,  # type: ignore[arg-type]
                      headers={"kid": kid if kid is not None else KEY.kid})


def good_claims(**changes: object) -> dict[str, object]:
    claims: dict[str, object] = {"iss": "pipewarden", "aud": [WORKORDERS_AUDIENCE], "sub": "li", "role": "crew",
                                 "districts": ["Dongsheng"], "iat": int(NOW), "exp": int(NOW) + 600}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_issued_token_verifies_with_every_claim() -> None:
    token = ISSUER.issue("li", "crew", ["Dongsheng", "Dongsheng"], ttl_s=600, sign_off_roles=["unit_head"])
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": KEY.kid, "typ": "JWT"}
    claims = verifier().verify(token)
    assert (claims.subject, claims.role, claims.districts, claims.sign_off_roles) == (
        "li", "crew", frozenset({"Dongsheng"}), frozenset({"unit_head"}))
    assert (claims.expires_at_s - claims.issued_at_s, claims.key_id) == (600, KEY.kid)
    assert claims.may_see("Dongsheng") and not claims.may_see("Jiuyuan")
    # One token is good for both APIs by default; each verifier checks its own audience.
    assert TokenVerifier(KeySet([KEY.public]), audience=LEAKDETECT_AUDIENCE, clock=lambda: NOW).verify(token)


def test_alg_none_is_refused() -> None:
    unsigned = jwt.encode(good_claims(), None, algorithm="none", headers={"kid": KEY.kid})  # type: ignore[arg-type]
    refused(unsigned, "invalid_token", "algorithm 'none' is not accepted")
    # Hand-made too (pyjwt's 'none' leaves an empty signature; an attacker may also drop the dot).
    head = base64.urlsafe_b64encode(b'{"alg":"none","kid":"%s"}' % KEY.kid.encode()).rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(good_claims()).encode()).rstrip(b"=").decode()
    refused(f"{head}.{body}.", "invalid_token", "not accepted")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256(claims: dict[str, object], secret: bytes) -> str:
    # By hand: pyjwt itself refuses to HMAC with a PEM public key, an attacker's script would not.
    signing_input = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": KEY.kid}).encode()) + "." + _b64(
        json.dumps(claims).encode())
    return signing_input + "." + _b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


def test_hs256_signed_with_the_public_key_is_refused() -> None:
    """Algorithm confusion: an attacker knows the public key (it is public) and HMACs a token with its bytes."""
    public_pem = KEY.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    raw = KEY.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk_json = json.dumps(KeySet([KEY.public]).to_jwks()["keys"][0]).encode()
    for secret in (public_pem, raw, jwk_json):
        confused = _hs256(good_claims(), secret)
        refused(confused, "invalid_token", "'HS256' is not accepted")
    # Even a verifier that skipped the header check would refuse: pyjwt is only ever given EdDSA.
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(confused, KEY.public, algorithms=["EdDSA"], audience=WORKORDERS_AUDIENCE)


def test_other_asymmetric_algorithms_are_refused() -> None:
    ec = generate_private_key(SECP256R1())
    refused(forge(good_claims(), key=ec, alg="ES256"), "invalid_token", "'ES256' is not accepted")


def test_unknown_or_missing_key_id_is_refused() -> None:
    other = generate_signing_key()
    refused(forge(good_claims(), key=other.private, kid=other.kid), "bad_signature", "not in the key set")
    # The right kid on another key's signature: the signature check catches it.
    refused(forge(good_claims(), key=other.private), "bad_signature", "signature does not verify")
    no_kid = jwt.encode(good_claims(), KEY.private, algorithm="EdDSA")
    refused(no_kid, "invalid_token", "no key id")


def test_issuer_and_audience_are_checked() -> None:
    refused(forge(good_claims(iss="someone-else")), "invalid_claims", "(?i)issuer")
    refused(forge(good_claims(iss=None)), "invalid_claims", "iss")
    refused(forge(good_claims(aud=["pipewarden-elsewhere"])), "invalid_claims", "(?i)audience")
    refused(forge(good_claims(aud=None)), "invalid_claims", "aud")
    leak_only = TokenIssuer(KEY, audience=[LEAKDETECT_AUDIENCE], clock=lambda: NOW).issue("li", "crew", ["*"])
    refused(leak_only, "invalid_claims", "(?i)audience")


def test_maximum_lifetime_and_required_times() -> None:
    refused(forge(good_claims(exp=253402300799)), "invalid_claims", "lifetime .* exceeds the maximum")  # 9999
    refused(forge(good_claims(exp=int(NOW) + 25 * 3600)), "invalid_claims", "exceeds the maximum")
    assert verifier(max_lifetime_s=3600).verify(forge(good_claims(exp=int(NOW) + 3600)))
    refused(forge(good_claims(exp=int(NOW) + 3601)), "invalid_claims", "exceeds", verifier(max_lifetime_s=3600))
    refused(forge(good_claims(iat=None)), "invalid_claims", "iat")
    refused(forge(good_claims(exp=None)), "invalid_claims", "exp")
    refused(forge(good_claims(iat="yesterday")), "invalid_claims", "iat")
    with pytest.raises(ValueError, match="maximum token lifetime"):
        ISSUER.issue("li", "crew", ["*"], ttl_s=48 * 3600)


def test_clock_leeway() -> None:
    # Expired 20 s ago: within the 30 s leeway. 40 s ago: refused.
    assert verifier().verify(forge(good_claims(iat=int(NOW) - 620, exp=int(NOW) - 20)))
    refused(forge(good_claims(iat=int(NOW) - 640, exp=int(NOW) - 40)), "expired_token", "expired")
    # Issued by a host whose clock is 20 s ahead: accepted; 40 s ahead: not yet valid.
    assert verifier().verify(forge(good_claims(iat=int(NOW) + 20, exp=int(NOW) + 600)))
    refused(forge(good_claims(iat=int(NOW) + 40, exp=int(NOW) + 600)), "invalid_claims", "not yet valid")
    refused(forge(good_claims(nbf=int(NOW) + 100)), "invalid_claims", "not yet valid")
    strict = verifier(leeway_s=0)
    refused(forge(good_claims(iat=int(NOW) - 620, exp=int(NOW) - 1)), "expired_token", "expired", strict)


@pytest.mark.parametrize(
    ("changes", "words"),
    [({"sub": ""}, "sub"), ({"sub": "x\n"}, "sub"), ({"sub": "x" * 151}, "sub"), ({"role": "admin"}, "role"),
     ({"role": None}, "role"), ({"districts": "Dongsheng"}, "districts"), ({"districts": [""]}, "districts"),
     ({"sign_off_roles": [1]}, "sign_off_roles")],
)
def test_claims_of_the_wrong_shape_are_refused(changes: dict[str, object], words: str) -> None:
    refused(forge(good_claims(**changes)), "invalid_claims", words)


@pytest.mark.parametrize("garbage", ["not-a-jwt", "a.b.c", "....", "é", "x" * 9000, "eyJhbGciOiJFZERTQSJ9.e30"])
def test_garbage_is_refused_with_a_reason(garbage: str) -> None:
    refused(garbage, "invalid_token")


def test_missing_and_malformed_bearer() -> None:
    refused("", "missing_token")
    assert bearer_from_metadata([("x", "y"), ("authorization", b"Bearer abc ")]) == "abc"
    assert bearer_from_metadata([]) == ""
    for bad in ("Basic abc", "Bearer", "Bearer  "):
        with pytest.raises(InvalidToken) as caught:
            bearer_from_metadata([("authorization", bad)])
        assert caught.value.reason == "malformed_token"


def test_rollover_two_keys_verify_until_the_old_is_retired(tmp_path: Path) -> None:
    signing, jwks = tmp_path / "signing.pem", tmp_path / "jwks.json"
    first = rotate(signing, jwks)
    keys = key_set_file(jwks, check_every_s=0)
    v = TokenVerifier(keys.current, audience=WORKORDERS_AUDIENCE)
    signer = signing_key_file(signing, check_every_s=0)
    issuer = TokenIssuer(signer.current)
    old_token = issuer.issue("li", "crew", ["*"])
    second = rotate(signing, jwks)
    assert list(load_key_set(jwks)) == [second.kid, first.kid]
    new_token = issuer.issue("li", "crew", ["*"])  # the issuer picked up the new key without a restart
    assert jwt.get_unverified_header(new_token)["kid"] == second.kid
    assert v.verify(old_token).key_id == first.kid and v.verify(new_token).key_id == second.kid
    rotate(signing, jwks, keep=1)  # a third key; the set keeps only it: both earlier keys retired
    with pytest.raises(InvalidToken, match="not in the key set"):
        v.verify(old_token)
    with pytest.raises(InvalidToken, match="not in the key set"):
        v.verify(new_token)
    assert signing.stat().st_mode & 0o777 == 0o600


def test_a_broken_key_set_keeps_the_last_good_keys(tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    write_key_set(jwks, KeySet([KEY.public]))
    errors: list[Exception] = []
    from services.tokens import WatchedFile

    watched = WatchedFile(jwks, load_key_set, check_every_s=0, on_error=errors.append)
    jwks.write_text("{not json")
    assert list(watched.current()) == [KEY.kid] and "not JSON" in str(errors[0])


@pytest.mark.parametrize(
    ("content", "words"),
    [("", "not JSON"), ("[]", "JWKS"), ('{"keys": []}', "at least one"), ('{"keys": [1]}', "JSON object"),
     ('{"keys": [{"kty": "RSA"}]}', "only Ed25519"), ('{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AA"}]}', "'x'"),
     ('{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "%s", "d": "x"}]}', "private key"),
     ('{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "%s", "kid": "mine"}]}', "thumbprint"),
     ('{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "%s", "alg": "HS256"}]}', "alg must be EdDSA")],
)
def test_garbage_key_sets_are_named(tmp_path: Path, content: str, words: str) -> None:
    x = KeySet([KEY.public]).to_jwks()["keys"][0]["x"]
    path = tmp_path / "jwks.json"
    path.write_text(content.replace("%s", x))
    with pytest.raises(KeyFileError, match=words) as caught:
        load_key_set(path)
    assert str(path) in str(caught.value)
    with pytest.raises(KeyFileError, match="cannot be read"):
        load_key_set(tmp_path / "absent.json")


def test_signing_key_files(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    write_signing_key(path, KEY)
    assert load_signing_key(path).kid == KEY.kid and "PRIVATE" not in repr(load_signing_key(path))
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="lets others read it"):
        load_signing_key(path)
    path.write_text("-----BEGIN PRIVATE KEY-----\ngarbage\n")
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="not an unencrypted PEM"):
        load_signing_key(path)
    ec = generate_private_key(SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(ec)
    with pytest.raises(KeyFileError, match="not an Ed25519 key"):
        load_signing_key(path)


def _cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPEWARDEN_")}
    return subprocess.run([sys.executable, "-m", "services.tokens", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=60, check=False)


def test_cli_rotate_issue_verify_and_garbage(tmp_path: Path) -> None:
    signing, jwks = str(tmp_path / "s.pem"), str(tmp_path / "jwks.json")
    assert _cli("rotate", "--signing-key", signing, "--key-set", jwks).returncode == 0
    issued = _cli("issue", "--signing-key", signing, "--role", "dispatcher", "--districts", "Dongsheng, Jiuyuan")
    assert issued.returncode == 0, issued.stderr
    checked = _cli("verify", "--key-set", jwks, stdin=issued.stdout)
    assert checked.returncode == 0 and json.loads(checked.stdout)["districts"] == ["Dongsheng", "Jiuyuan"]
    refused_ = _cli("verify", "--key-set", jwks, stdin="garbage")
    assert refused_.returncode == 1 and "refused (invalid_token)" in refused_.stderr



def test_cli_garbage_is_refused_naming_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from services.tokens.__main__ import main

    signing, jwks = str(tmp_path / "s.pem"), str(tmp_path / "jwks.json")
    assert main(["rotate", "--signing-key", signing, "--key-set", jwks]) == 0
    for args, words in [
        (("issue", "--signing-key", signing, "--role", "admin"), "role must be one of"),
        (("issue", "--signing-key", signing, "--role", "crew", "--ttl-s", "1e9"), "--ttl-s"),
        (("issue", "--signing-key", jwks, "--role", "crew"), "lets others read it"),
        (("issue", "--signing-key", str(tmp_path / "absent"), "--role", "crew"), "cannot be read"),
        (("verify", "--key-set", signing), "not JSON"),
        (("rotate", "--signing-key", signing, "--key-set", jwks, "--keep", "0"), "--keep"),
    ]:
        capsys.readouterr()
        assert main(list(args)) == 2
        assert words in capsys.readouterr().err


def test_a_remembered_token_still_expires_and_still_needs_its_key() -> None:
    now = [NOW]
    keys = KeySet([KEY.public])
    v = TokenVerifier(keys, audience=WORKORDERS_AUDIENCE, clock=lambda: now[0])
    token = ISSUER.issue("li", "crew", ["*"], ttl_s=60)
    assert v.verify(token) == v.verify(token)  # the second from the cache
    now[0] = NOW + 60 + 31  # past exp and the leeway
    with pytest.raises(InvalidToken) as caught:
        v.verify(token)
    assert caught.value.reason == "expired_token"
    current: list[KeySet] = [keys]
    rolling = TokenVerifier(lambda: current[0], audience=WORKORDERS_AUDIENCE, clock=lambda: NOW)
    assert rolling.verify(token)
    current[0] = KeySet([generate_signing_key().public])  # the key was retired
    with pytest.raises(InvalidToken, match="not in the key set"):
        rolling.verify(token)
