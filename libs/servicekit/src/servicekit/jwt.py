"""The one module that touches the JWT library (python-jose): key handling, signing, verifying.

Identity signs access tokens with it, media-consent signs receipts with it, and every service and
the gateway verify through `servicekit.auth`, which calls `verify` here. One asymmetric algorithm,
ES256 (ECDSA on P-256 with SHA-256), is pinned everywhere; the token's own header never chooses the
algorithm or the key. Keys of any other kind (the RSA keys of stores made when the platform used
RS256) neither sign nor verify here: `is_pinned_key` tells them apart for the key store.
"""

from __future__ import annotations

import json
from base64 import urlsafe_b64decode
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwk as jose_jwk
from jose import jws as jose_jws
from jose.exceptions import JOSEError

ALGORITHM = "ES256"
CURVE = "P-256"
ACCESS_TOKEN_TYPE = "at+jwt"
LEEWAY_SECONDS = 30
ACCESS_TOKEN_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti")


class TokenRejected(Exception):
    """A token failed verification; `reason` is for logs, never for the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def generate_private_key_pem() -> str:
    """A new signing key for the pinned algorithm: P-256, as a PKCS8 PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def is_pinned_key(private_key_pem: str) -> bool:
    """Whether a private key (PEM) is one the pinned algorithm uses: an EC key on P-256.

    False for an RSA key (a key store made when the platform used RS256); ValueError if the PEM is
    not a private key at all.
    """
    private = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    return isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(private.curve, ec.SECP256R1)


def public_jwk(private_key_pem: str, kid: str) -> dict[str, str]:
    """The public half of a signing key as a JWK for the JWKS."""
    if not is_pinned_key(private_key_pem):
        raise ValueError(f"not a {ALGORITHM} ({CURVE}) key")
    private = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    data: dict[str, str] = jose_jwk.construct(public_pem.decode(), ALGORITHM).to_dict()
    return {
        "kty": "EC",
        "crv": CURVE,
        "use": "sig",
        "alg": ALGORITHM,
        "kid": kid,
        "x": data["x"],
        "y": data["y"],
    }


class VerificationKey:
    """A public key parsed once, for repeated verification."""

    def __init__(self, jwk_data: dict[str, Any]) -> None:
        if (
            jwk_data.get("kty") != "EC"
            or jwk_data.get("crv") != CURVE
            or jwk_data.get("alg", ALGORITHM) != ALGORITHM
        ):
            raise TokenRejected("key of an unsupported type")
        self.kid = str(jwk_data.get("kid", ""))
        try:
            self._key = jose_jwk.construct(
                {"kty": "EC", "crv": CURVE, "x": jwk_data["x"], "y": jwk_data["y"]}, ALGORITHM
            )
        except (KeyError, TypeError, ValueError, JOSEError) as exc:
            raise TokenRejected("malformed key") from exc

    def verify_signature(self, token: str) -> bytes:
        try:
            payload: bytes = jose_jws.verify(token, self._key, algorithms=[ALGORITHM])
        except JOSEError as exc:
            raise TokenRejected(f"bad signature: {type(exc).__name__}") from exc
        return payload


class SigningKey:
    """A private key parsed once, for signing."""

    def __init__(self, private_key_pem: str, kid: str) -> None:
        self.kid = kid
        self.pem = private_key_pem
        self._public_jwk = public_jwk(private_key_pem, kid)  # ValueError for a key of another kind
        self._key = jose_jwk.construct(private_key_pem, ALGORITHM)

    def sign(self, claims: dict[str, Any], *, typ: str) -> str:
        token: str = jose_jws.sign(
            json.dumps(claims, separators=(",", ":"), default=str).encode(),
            self._key,
            headers={"kid": self.kid, "typ": typ},
            algorithm=ALGORITHM,
        )
        return token

    def public_jwk(self) -> dict[str, str]:
        return dict(self._public_jwk)


def unverified_header(token: str) -> dict[str, Any]:
    """The token's header, read without trusting it (to pick the key by kid)."""
    try:
        head = token.split(".", 2)[0]
        data = json.loads(urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, IndexError, UnicodeDecodeError) as exc:
        raise TokenRejected("malformed token") from exc
    if not isinstance(data, dict):
        raise TokenRejected("malformed header")
    return data


def check_header(header: dict[str, Any], *, typ: str) -> str:
    """Refuse any algorithm but ours and any other token type; return the kid."""
    if header.get("alg") != ALGORITHM:
        raise TokenRejected(f"algorithm {header.get('alg')!r} refused")
    if str(header.get("typ", "")).lower() != typ:
        raise TokenRejected(f"token type {header.get('typ')!r} refused")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenRejected("no kid")
    return kid


def verify_claims(
    token: str,
    key: VerificationKey,
    *,
    issuer: str,
    audience: str,
    now: datetime,
    required: tuple[str, ...] = ACCESS_TOKEN_CLAIMS,
    leeway: int = LEEWAY_SECONDS,
) -> dict[str, Any]:
    """Verify the signature, then the registered claims against `now` (an injectable clock)."""
    try:
        claims = json.loads(key.verify_signature(token))
    except ValueError as exc:
        raise TokenRejected("payload is not JSON") from exc
    if not isinstance(claims, dict):
        raise TokenRejected("payload is not an object")
    missing = [name for name in required if name not in claims]
    if missing:
        raise TokenRejected(f"missing claims {missing}")
    if claims.get("iss") != issuer:
        raise TokenRejected("wrong issuer")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if audience not in audiences:
        raise TokenRejected("wrong audience")
    ts = now.timestamp()
    try:
        exp, iat = float(claims["exp"]), float(claims["iat"])
        nbf = float(claims.get("nbf", iat))
    except (TypeError, ValueError) as exc:
        raise TokenRejected("bad time claims") from exc
    if exp + leeway < ts:
        raise TokenRejected("expired")
    if iat - leeway > ts or nbf - leeway > ts:
        raise TokenRejected("issued in the future")
    return claims
