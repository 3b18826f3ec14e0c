"""SECURITY.md's forged-token table, against servicekit's verification: every forgery is refused.

Each case is an attack; the valid token beside them shows the refusals are not blanket.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from servicekit.auth import StaticKeySource, TokenVerifier
from servicekit.clock import FrozenClock
from servicekit.jwt import SigningKey, TokenRejected, generate_private_key_pem
from servicekit.testing import DEFAULT_AUDIENCE, DEFAULT_ISSUER, TokenFactory


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unsigned(header: dict, claims: dict) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


def hs256(header: dict, claims: dict, secret: bytes) -> str:
    signing_input = unsigned(header, claims)
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def claims_for(clock: FrozenClock, **overrides) -> dict:
    now = int(clock.now().timestamp())
    claims = {
        "iss": DEFAULT_ISSUER,
        "aud": DEFAULT_AUDIENCE,
        "sub": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "scope": "notes:read",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.fixture
def verifier(tokens: TokenFactory, clock: FrozenClock) -> TokenVerifier:
    return TokenVerifier(
        StaticKeySource(tokens.jwks), issuer=DEFAULT_ISSUER, audience=DEFAULT_AUDIENCE, clock=clock
    )


# The attacker's HMAC secret for the HS256 forgeries: our public key's bytes, as a verifier that lets
# the token's header choose the algorithm would use them (PEM and DER SubjectPublicKeyInfo of the EC
# key; python-jose 3.5 accepts the DER one when `algorithms` is left out).
def public_pem(tokens: TokenFactory) -> bytes:
    private = serialization.load_pem_private_key(tokens.key.pem.encode(), password=None)
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_der(tokens: TokenFactory) -> bytes:
    private = serialization.load_pem_private_key(tokens.key.pem.encode(), password=None)
    return private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


async def test_a_valid_token_is_accepted(verifier: TokenVerifier, tokens: TokenFactory) -> None:
    principal = await verifier.verify(tokens.token(scopes=["notes:read"], roles=["teacher"]))
    assert principal.scopes == {"notes:read"}
    assert principal.roles == {"teacher"}


ATTACKER_PEM = generate_private_key_pem()
# Some RSA key: an RS256 token (the algorithm the platform used before ES256) with our kid must be
# refused for its algorithm alone, whatever key signed it.
ATTACKER_RSA_PEM = (
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    .decode()
)


def forgeries(tokens: TokenFactory, clock: FrozenClock) -> dict[str, Callable[[], str]]:
    kid = tokens.key.kid
    attacker = SigningKey(ATTACKER_PEM, kid=kid)
    other_kid = SigningKey(ATTACKER_PEM, kid="not-ours")
    return {
        "alg none": lambda: unsigned({"alg": "none", "typ": "at+jwt", "kid": kid}, claims_for(clock)) + ".",
        "HS256 with the public key PEM": lambda: hs256(
            {"alg": "HS256", "typ": "at+jwt", "kid": kid}, claims_for(clock), public_pem(tokens)
        ),
        "HS256 with the public key DER": lambda: hs256(
            {"alg": "HS256", "typ": "at+jwt", "kid": kid}, claims_for(clock), public_der(tokens)
        ),
        "expired": lambda: tokens.token(issued_at=clock.now() - timedelta(minutes=20)),
        "wrong audience": lambda: tokens.token(aud="another-api"),
        "wrong issuer": lambda: tokens.token(iss="https://evil.example"),
        "unknown kid": lambda: other_kid.sign(claims_for(clock), typ="at+jwt"),
        "our kid, attacker's key": lambda: attacker.sign(claims_for(clock), typ="at+jwt"),
        "RS256 with an RSA key, our kid": lambda: pyjwt.encode(
            claims_for(clock), ATTACKER_RSA_PEM, algorithm="RS256", headers={"kid": kid, "typ": "at+jwt"}
        ),
        "attacker key in jwk and jku headers": lambda: pyjwt.encode(
            claims_for(clock),
            attacker.pem,
            algorithm="ES256",
            headers={
                "kid": kid,
                "typ": "at+jwt",
                "jwk": attacker.public_jwk(),
                "jku": "https://evil.example/k",
            },
        ),
        "no typ (refresh or id token)": lambda: _resign(
            tokens, {"alg": "ES256", "kid": kid}, claims_for(clock)
        ),
        "consent receipt typ": lambda: tokens.key.sign(claims_for(clock), typ="consent-receipt+jwt"),
        "missing jti": lambda: tokens.key.sign(claims_for(clock, jti=None), typ="at+jwt"),
        "missing sub": lambda: tokens.key.sign(claims_for(clock, sub=None), typ="at+jwt"),
        "missing aud": lambda: tokens.key.sign(claims_for(clock, aud=None), typ="at+jwt"),
        "missing exp": lambda: tokens.key.sign(claims_for(clock, exp=None), typ="at+jwt"),
        "issued in the future": lambda: tokens.token(issued_at=clock.now() + timedelta(minutes=5)),
        "opaque refresh token": lambda: "rt_" + uuid.uuid4().hex,
        "tampered payload": lambda: _tamper(tokens.token(scopes=["notes:read"])),
        "garbage": lambda: "not.a.token",
    }


def _resign(tokens: TokenFactory, header: dict, claims: dict) -> str:
    # python-jose always writes typ when given; sign with PyJWT to leave typ out entirely.
    return pyjwt.encode(
        claims, tokens.key.pem, algorithm="ES256", headers={"kid": header["kid"], "typ": None}
    )


def _tamper(token: str) -> str:
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "notes:read notes:write platform:everything"
    return f"{head}.{b64(json.dumps(claims).encode())}.{signature}"


FORGERY_NAMES = list(forgeries(TokenFactory(SigningKey(ATTACKER_PEM, kid="k")), FrozenClock()).keys())


@pytest.mark.parametrize("name", FORGERY_NAMES)
async def test_forged_token_is_refused(
    name: str, verifier: TokenVerifier, tokens: TokenFactory, clock
) -> None:
    token = forgeries(tokens, clock)[name]()
    with pytest.raises(TokenRejected):
        await verifier.verify(token)


# Why each forgery must be refused: a forgery refused for another reason (say, a token that cannot be
# parsed because the algorithm changed) would prove nothing about the attack it stands for.
REFUSED_BECAUSE = {
    "alg none": "algorithm 'none' refused",
    "HS256 with the public key PEM": "algorithm 'HS256' refused",
    "HS256 with the public key DER": "algorithm 'HS256' refused",
    "expired": "expired",
    "wrong audience": "wrong audience",
    "wrong issuer": "wrong issuer",
    "unknown kid": "unknown kid",
    "our kid, attacker's key": "bad signature",
    "RS256 with an RSA key, our kid": "algorithm 'RS256' refused",
    "attacker key in jwk and jku headers": "bad signature",
    "no typ (refresh or id token)": "token type None refused",
    "consent receipt typ": "token type 'consent-receipt+jwt' refused",
    "missing jti": "missing claims ['jti']",
    "missing sub": "missing claims ['sub']",
    "missing aud": "missing claims ['aud']",
    "missing exp": "missing claims ['exp']",
    "issued in the future": "issued in the future",
    "opaque refresh token": "malformed token",
    "tampered payload": "bad signature",
    "garbage": "malformed token",
}


@pytest.mark.parametrize("name", FORGERY_NAMES)
async def test_each_forgery_is_refused_for_its_own_reason(
    name: str, verifier: TokenVerifier, tokens: TokenFactory, clock
) -> None:
    with pytest.raises(TokenRejected) as refused:
        await verifier.verify(forgeries(tokens, clock)[name]())
    assert refused.value.reason.startswith(REFUSED_BECAUSE[name])


@pytest.mark.parametrize("name", FORGERY_NAMES)
async def test_forged_token_gets_401_from_a_service(
    name: str, kit_client: httpx.AsyncClient, tokens, clock
) -> None:
    response = await kit_client.get(
        "/v1/notes", headers={"Authorization": f"Bearer {forgeries(tokens, clock)[name]()}"}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.headers["content-type"] == "application/problem+json"


async def test_missing_token_is_401_and_missing_scope_is_403(kit_client: httpx.AsyncClient, tokens) -> None:
    assert (await kit_client.get("/v1/notes")).status_code == 401
    response = await kit_client.get("/v1/notes", headers=tokens.headers(scopes=["other:read"]))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert (await kit_client.get("/v1/notes", headers={"Authorization": "Basic abc"})).status_code == 401


async def test_a_cached_token_still_expires(
    verifier: TokenVerifier, tokens: TokenFactory, clock: FrozenClock
) -> None:
    token = tokens.token(lifetime=timedelta(minutes=10))
    await verifier.verify(token)
    clock.advance(minutes=10, seconds=31)
    with pytest.raises(TokenRejected):
        await verifier.verify(token)


async def test_not_before_refuses_older_tokens(tokens: TokenFactory, clock: FrozenClock) -> None:
    subject = str(uuid.uuid4())
    cutoffs: dict[str, datetime] = {}
    verifier = TokenVerifier(
        StaticKeySource(tokens.jwks),
        issuer=DEFAULT_ISSUER,
        audience=DEFAULT_AUDIENCE,
        clock=clock,
        not_before=cutoffs.get,
    )
    old = tokens.token(subject=subject)
    await verifier.verify(old)
    clock.advance(seconds=5)
    cutoffs[subject] = clock.now()  # the password changed
    with pytest.raises(TokenRejected):
        await verifier.verify(old)  # cached, and still refused
    await verifier.verify(tokens.token(subject=subject, issued_at=clock.now()))


async def test_a_second_library_verifies_our_tokens(tokens: TokenFactory) -> None:
    token = tokens.token(scopes=["notes:read"], issued_at=datetime.now(UTC))
    key = pyjwt.PyJWK(tokens.jwks()[0])
    claims = pyjwt.decode(
        token, key.key, algorithms=["ES256"], audience=DEFAULT_AUDIENCE, issuer=DEFAULT_ISSUER
    )
    assert claims["scope"] == "notes:read"
    assert pyjwt.get_unverified_header(token)["typ"] == "at+jwt"
