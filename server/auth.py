"""Bearer JWTs (HS256): verify, turn into the viewer, and issue development tokens."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

import jwt
from aiohttp import web

from models import Role
from server.keys import KNOWN_USERS, SETTINGS
from services.validation import (
    SYSTEM_USER_PREFIX,
    USER_ID_MAX,
    USER_NAME_MAX,
    as_user_id,
    is_system_user,
    storable,
)
from services.viewer import Viewer

ALGORITHM = "HS256"


class InvalidToken(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Claims:
    sub: str
    name: str
    role: Role
    expires_at: float


@dataclass(frozen=True, slots=True)
class SignedIn:
    viewer: Viewer
    expires_at: float


async def sign_in(app: web.Application, token: str) -> SignedIn:
    """The token's viewer, their user stored on first sight (HTTP requests and WebSocket
    connections alike); InvalidToken when the token is not valid."""
    claims = decode(token, app[SETTINGS].jwt_secret)
    viewer = await app[KNOWN_USERS].ensure(user_id=claims.sub, name=claims.name, role=claims.role)
    return SignedIn(viewer, claims.expires_at)


def decode(token: str, secret: str) -> Claims:
    """The token's claims. A token is verified once; until it expires its claims are reused.

    Whatever is wrong with a token is InvalidToken (a 401), never an internal error.
    """
    try:
        claims = _verified(token, secret)
    except InvalidToken:
        raise
    except Exception as exc:  # claims of unexpected shapes
        raise InvalidToken("invalid token: malformed claims") from exc
    if claims.expires_at <= time.time():
        raise InvalidToken("token expired")
    return claims


@functools.lru_cache(maxsize=4096)
def _verified(token: str, secret: str) -> Claims:
    """Signature and claims checked (failures are raised, never cached)."""
    try:
        payload = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp", "role"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"invalid token: {exc}") from exc
    return _claims(payload)


ROLES = frozenset(r.value for r in Role)
MAX_EXP = 2**53  # any later expiry is "never"; beyond a double it would not even be a number


def _claims(payload: dict[str, Any]) -> Claims:
    """Claims of the wrong type or that no user could have are an invalid token: a signed token
    is still input, bounded like any argument before it names a user."""
    sub, role, name = payload.get("sub"), payload.get("role"), payload.get("name", "")
    if not isinstance(sub, str) or as_user_id(sub) is None:
        raise InvalidToken(
            f"invalid token: sub must be 1 to {USER_ID_MAX} characters that can be stored"
        )
    if is_system_user(sub):
        raise InvalidToken(f"invalid token: sub may not start with {SYSTEM_USER_PREFIX!r}")
    if not isinstance(role, str) or role not in ROLES:
        raise InvalidToken("invalid token: role must be customer, agent or admin")
    if not isinstance(name, str) or not storable(name):
        raise InvalidToken("invalid token: name must be a string that can be stored")
    exp = payload["exp"]  # the JWT library checked that it is a number in the future
    if type(exp) not in (int, float) or not -MAX_EXP < exp < MAX_EXP:
        raise InvalidToken("invalid token: exp must be a number of seconds")
    return Claims(sub=sub, name=name[:USER_NAME_MAX], role=Role(role), expires_at=float(exp))


def encode(*, sub: str, role: str, name: str, secret: str, ttl_seconds: int = 86_400) -> str:
    now = int(time.time())
    payload = {"sub": sub, "name": name, "role": role, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None when absent."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("Authorization header must be 'Bearer <token>'")
    return token.strip()
