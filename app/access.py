"""Who may reach the web app: the bind address and optional password, checked before launch."""

from __future__ import annotations

import inspect
import ipaddress
import os

AUTH_ENV = "VERBATIM_AUTH"


class AccessError(ValueError):
    """The server must not start with these settings; the message says what to change."""


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """`user:password` (from --auth or $VERBATIM_AUTH) as a pair; None when no auth is set."""
    value = value if value is not None else os.environ.get(AUTH_ENV)
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise AccessError(f"--auth / ${AUTH_ENV} must look like user:password (got {len(value)} characters without both parts)")
    return user, password


def is_loopback(host: str) -> bool:
    """True when only this machine can connect to `host`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


def check_exposure(host: str, auth: tuple[str, str] | None, no_auth: bool) -> str | None:
    """Refuse to expose the app beyond this machine without a password unless asked to; a warning otherwise."""
    if is_loopback(host):
        return None
    if auth is None and not no_auth:
        raise AccessError(
            f"refusing to serve on {host} without a password: anyone who can reach this machine could read and change "
            f"the sources. Add --auth user:password (or set ${AUTH_ENV}), or --no-auth to expose it anyway."
        )
    if auth is None:
        return f"warning: serving on {host} with no password (--no-auth): anyone who can reach it can read and change the sources"
    return f"warning: serving on {host}: reachable from other machines, password required; use HTTPS in front of it on untrusted networks"


def signed_in(request) -> bool:
    """True when the Gradio app serving `request` (a Starlette request) lets it in: the app has no login,
    or the request carries the cookie Gradio's /login set, or the app's auth dependency names a user.

    The same test Gradio makes for its own pages, so a route beside the app (the source view) is guarded
    exactly as the chat is. Fails closed: an app without Gradio's login state lets no one in."""
    app = request.app
    auth, dependency = getattr(app, "auth", None), getattr(app, "auth_dependency", None)
    if auth is None and dependency is None:
        return hasattr(app, "tokens")  # a Gradio app that asks for no login
    if dependency is not None:
        user = dependency(request)
        if inspect.isawaitable(user):  # an async dependency cannot be awaited here: refuse rather than guess
            getattr(user, "close", lambda: None)()
            return False
        return user is not None
    cookie_id = getattr(app, "cookie_id", "")
    token = request.cookies.get(f"access-token-{cookie_id}") or request.cookies.get(f"access-token-unsecure-{cookie_id}")
    return bool(token) and app.tokens.get(token) is not None
