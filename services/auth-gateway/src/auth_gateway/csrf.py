"""Cross-site request forgery protection for the gateway's state-changing requests.

Browsers re-send HTTP Basic credentials to any site that links here, so Basic alone does not
prove the admin *meant* a POST. Forms carry a token: a signed, timestamped copy of a random
nonce whose other copy sits in an HttpOnly, SameSite=Strict cookie. A forged form has neither.
On top of that, requests a browser marks as cross-site (``Sec-Fetch-Site``) or whose ``Origin``
is foreign are refused; the JSON API (``/import``) relies on that check plus its JSON content
type, which a cross-site form cannot send and no CORS policy here allows.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request
from itsdangerous import BadSignature
from werkzeug.exceptions import Forbidden

from auth_gateway.public_urls import cookie_path, public_origin, secure_cookies
from auth_gateway.signing import SessionKey

log = logging.getLogger(__name__)

CSRF_COOKIE = "paceline_csrf"
CSRF_FIELD = "csrf_token"
TOKEN_MAX_AGE_SECONDS = 12 * 3600
_SALT = "paceline.csrf"


class CsrfFailed(Forbidden):
    description = (
        "This form has expired or did not come from this gateway. Go back to the status page, "
        "reload it and try again."
    )


def require_same_origin() -> None:
    """Refuse requests a browser reports as coming from another site."""
    if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        log.warning("cross-site request refused", extra={"path": request.path})
        raise CsrfFailed()
    origin = request.headers.get("Origin")
    if origin is None:
        return
    parts = urlsplit(request.host_url)
    own = {public_origin(current_app.extensions["paceline.runtime"].settings)}
    own.add(f"{parts.scheme}://{parts.netloc}")
    if origin not in own:
        log.warning("foreign origin refused", extra={"path": request.path})
        raise CsrfFailed()


class CsrfProtection:
    def __init__(self, key: SessionKey) -> None:
        self.key = key

    def _nonce(self) -> str:
        nonce: str | None = g.get("csrf_nonce")
        if nonce is None:
            nonce = request.cookies.get(CSRF_COOKIE)
            if not nonce or len(nonce) > 128:
                nonce = secrets.token_urlsafe(32)
                g.csrf_set_cookie = True
            g.csrf_nonce = nonce
        return nonce

    def token(self) -> str:
        """For templates: the hidden field value of this page's forms."""
        return str(self.key.serializer(_SALT).dumps(self._nonce()))

    def verify(self) -> None:
        """For POST handlers: raise 403 unless the form's token matches the cookie."""
        require_same_origin()
        cookie = request.cookies.get(CSRF_COOKIE, "")
        sent = request.form.get(CSRF_FIELD, "")
        try:
            nonce = self.key.serializer(_SALT).loads(sent, max_age=TOKEN_MAX_AGE_SECONDS)
        except BadSignature:
            nonce = None
        if not cookie or not isinstance(nonce, str) or not hmac.compare_digest(nonce, cookie):
            log.warning("csrf check failed", extra={"path": request.path})
            raise CsrfFailed()

    def set_cookie(self, response: Response) -> Response:
        if g.get("csrf_set_cookie"):
            settings = current_app.extensions["paceline.runtime"].settings
            response.set_cookie(
                CSRF_COOKIE,
                g.csrf_nonce,
                path=cookie_path(settings),
                secure=secure_cookies(settings),
                httponly=True,
                samesite="Strict",
            )
        return response


def init_csrf(app: Flask, key: SessionKey) -> CsrfProtection:
    csrf = CsrfProtection(key)
    app.extensions["auth_gateway.csrf"] = csrf
    app.after_request(csrf.set_cookie)
    app.jinja_env.globals["csrf_token"] = csrf.token
    return csrf


def csrf_of(app: Flask | None = None) -> CsrfProtection:
    protection: CsrfProtection = (app or current_app).extensions["auth_gateway.csrf"]
    return protection
