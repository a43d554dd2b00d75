"""Who is looking at the console: sign-in links, a session cookie, or an API key header.

A browser never needs the API key in a header. The client configuration hands
each caller a **sign-in link** (``/console/link/{token}``, signed, expiring,
naming only the owner); opening it, or any console path below it, sets an
HTTP-only session cookie and redirects to the same path without the token, so
the token leaves the address bar at once. A person without a link can sign in
with a key at ``/console/login``; the key is checked and dropped, only the
signed owner id is kept in the cookie. Scripts may send ``X-API-Key`` instead.

Cookies ignore ports, so the cookie name carries the port: two emulators on one
host keep separate sign-ins.
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tinkex.emulator.errors import HTTPProblem

from .. import auth
from ..signing import Signer

#: How long a browser stays signed in after following a link or signing in.
SESSION_TTL = 12 * 3600.0
PREFIX = "/console"
LINK_PREFIX = f"{PREFIX}/link/"


class ConsoleAccess:
    def __init__(self, secret: bytes, link_ttl: float):
        self._links = Signer(secret, "console-link")
        self._sessions = Signer(secret, "console-session")
        self.link_ttl = link_ttl

    # -- minting --------------------------------------------------------------------

    def link(self, base_url: str, owner: str) -> str:
        """The console base URL for ``owner``: a sign-in link that console paths extend."""
        token, _ = self._links.sign({"o": owner}, self.link_ttl)
        return f"{base_url.rstrip('/')}{LINK_PREFIX}{token}"

    # -- reading --------------------------------------------------------------------

    @staticmethod
    def cookie_name(request: Request) -> str:
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        return f"tinkex_console_{port}"

    def owner(self, request: Request) -> str | None:
        """The signed-in owner, or None. A malformed API key header is a 401."""
        if request.headers.get(auth.HEADER):
            return auth.owner_of(request.headers)
        cookie = request.cookies.get(self.cookie_name(request))
        if not cookie:
            return None
        try:
            return str(self._sessions.verify(cookie, "console session")["o"])
        except (HTTPProblem, ValueError, KeyError):
            return None  # expired, or signed by another emulator on this host

    # -- signing in and out ---------------------------------------------------------

    def _signed_in(self, request: Request, owner: str, target: str) -> Response:
        token, _ = self._sessions.sign({"o": owner}, SESSION_TTL)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(self.cookie_name(request), token, max_age=int(SESSION_TTL),
                            path=PREFIX, httponly=True, samesite="lax")
        response.headers["Cache-Control"] = "no-store"
        return response

    def follow_link(self, request: Request) -> Response:
        """``GET /console/link/{token}/{path}``: sign in, then go to ``/console/{path}``."""
        raw = request.scope.get("raw_path") or request.url.path.encode()
        rest = raw.decode("latin-1")[len(LINK_PREFIX):]
        token, _, path = rest.partition("/")
        target = f"{PREFIX}/{path}" + (f"?{request.url.query}" if request.url.query else "")
        try:
            owner = str(self._links.verify(token, "console link")["o"])
        except (HTTPProblem, ValueError, KeyError) as e:
            expired = isinstance(e, HTTPProblem) and e.status == 410
            return login_redirect(target, "expired" if expired else "invalid")
        return self._signed_in(request, owner, target)

    async def login(self, request: Request) -> tuple[Response | None, str | None]:
        """``POST /console/login``: a response when the key is good, else the error to show."""
        if not same_origin(request):
            return None, "this sign-in form was sent from another site"
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        key = (form.get("api_key") or [""])[0].strip()
        target = safe_next((form.get("next") or [""])[0])
        try:
            owner = auth.owner_of({auth.HEADER: key})
        except HTTPProblem as e:
            return None, str(e.detail)
        return self._signed_in(request, owner, target), None

    def logout(self, request: Request) -> Response:
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        if same_origin(request):
            response.delete_cookie(self.cookie_name(request), path=PREFIX)
        return response


def safe_next(target: str) -> str:
    """Only console paths of this server (no open redirect through ``next``)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(PREFIX + "/") \
            or parts.path.startswith(LINK_PREFIX):
        return PREFIX + "/"
    return target


def login_redirect(target: str, reason: str | None = None) -> Response:
    query = f"next={quote(safe_next(target), safe='')}"
    if reason:
        query += f"&reason={reason}"
    return RedirectResponse(f"{PREFIX}/login?{query}", status_code=303)


def same_origin(request: Request) -> bool:
    """A form post from our own pages (or a client that sends no Origin at all)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    parts = urlsplit(origin)
    return (parts.scheme, parts.netloc) == (request.url.scheme, request.url.netloc)
