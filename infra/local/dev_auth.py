"""The local stack's stand-in for the admin API's identity provider and JWT authorizer.

Deployed, an OIDC provider (Cognito or any other) issues the tokens and API Gateway's HTTP API JWT
authorizer verifies them before the admin function runs. Locally there is no provider, so the
stack keeps an RSA key under .local/ (generated on first use, never committed), mints short-lived
RS256 tokens with it (`infra/local/dev_token.py`), and the local gateway verifies them the way the
authorizer does: the signature, `iss`, `aud` (or `client_id`), `exp`, `nbf` and `iat`. A request
without a valid token never reaches the function: 401, as API Gateway answers.
"""
import json
import os
import time
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[2]
KEY_PATH = ROOT / ".local" / "admin-dev-key.pem"
KEY_ID = "prop-local-dev"
# Like API Gateway: only RSA signatures are accepted (an `alg: none` or HMAC token is forged).
ALGORITHMS = ["RS256"]
MAX_MINUTES = 12 * 60


def ensure_key(path=KEY_PATH):
    """The dev signing key, created (mode 0600) if the stack has none yet."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def mint(issuer, audience, role, subject, minutes=60, key=None, role_claim="role", now=None):
    """A signed dev token for `subject` with `role` (ops or viewer), valid for `minutes`."""
    if not 1 <= minutes <= MAX_MINUTES:
        raise ValueError(f"minutes must be from 1 to {MAX_MINUTES}")
    now = int(now if now is not None else time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        role_claim: role,
        "iat": now,
        "nbf": now,
        "exp": now + minutes * 60,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, key or ensure_key(), algorithm="RS256", headers={"kid": KEY_ID})


class Unauthorized(Exception):
    """The request has no token the authorizer accepts (the reason is logged, not returned)."""


def claims_as_strings(claims):
    """API Gateway hands a JWT's claims to the function as strings: numbers in decimal, lists as
    `[a b]`, objects as JSON."""
    out = {}
    for k, v in claims.items():
        if isinstance(v, bool):
            out[k] = "true" if v else "false"
        elif isinstance(v, (int, float)):
            out[k] = str(v)
        elif isinstance(v, list):
            out[k] = "[" + " ".join(str(x) for x in v) + "]"
        elif isinstance(v, dict):
            out[k] = json.dumps(v)
        else:
            out[k] = str(v)
    return out


def verify(headers, authorizer, public_key, now=None):
    """Checks a request's token as the HTTP API JWT authorizer would; returns its claims as the
    function receives them, or raises Unauthorized."""
    source = authorizer["identity_source"]
    prefix = "$request.header."
    if not source.startswith(prefix):
        raise Unauthorized(f"identity source {source} is not a header")
    raw = headers.get(source[len(prefix):].lower(), "").strip()
    if not raw:
        raise Unauthorized("no token")
    token = raw[7:].strip() if raw[:7].lower() == "bearer " else raw
    try:
        header = jwt.get_unverified_header(token)
        if header.get("kid") != KEY_ID:
            raise Unauthorized("unknown key id")
        claims = jwt.decode(
            token,
            public_key,
            algorithms=ALGORITHMS,
            issuer=authorizer["issuer"],
            options={"require": ["exp", "iss", "sub"], "verify_aud": False},
            leeway=0,
        )
    except jwt.PyJWTError as e:
        raise Unauthorized(type(e).__name__) from None
    # aud, or client_id for tokens without aud (Cognito access tokens), must be an audience.
    aud = claims.get("aud", claims.get("client_id"))
    auds = aud if isinstance(aud, list) else [aud]
    if not any(a in authorizer["audience"] for a in auds if a is not None):
        raise Unauthorized("audience")
    now = time.time() if now is None else now
    if "iat" in claims and claims["iat"] > now:
        raise Unauthorized("issued in the future")
    return claims_as_strings(claims)


def public_key(path=KEY_PATH):
    return ensure_key(path).public_key()
