"""Who may talk to the server: the browser's own pages and local scripts, nothing else.

Three checks run before every route:

- Host (DNS rebinding): on a loopback address, a request must name a loopback
  host (localhost, 127.0.0.1, [::1]) or one given with --allowed-host. A page
  on evil.example whose name was re-pointed at 127.0.0.1 sends `Host:
  evil.example` and is refused, so it can read nothing.
- Origin (cross-site request forgery): a request that changes something (POST,
  PUT, PATCH, DELETE) must not come from another site. When the browser says
  where it comes from (Origin, else Referer, and Sec-Fetch-Site), that must be
  this server itself; requests that say nothing (curl, scripts) pass.
- Every answer carries a Content-Security-Policy that lets a page load scripts, styles,
  pictures and data only from this server (and data: pictures), and forbids framing.
- Token: a server bound beyond loopback requires a token on every request except
  /healthz and /static: `Authorization: Bearer TOKEN`, an `X-Auth-Token` header,
  a `token` field, or the cookie set by opening any page once with ?token=TOKEN.
"""

import hmac
import ipaddress
import secrets
import urllib.parse

import flask
import werkzeug.exceptions as http

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}
CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
COOKIE = "siamese_caffe_token"
# Pages load nothing from elsewhere (the browser enforces it) and cannot be framed.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; "
                           "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; "
                           "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                           "base-uri 'none'")
OPEN_PATHS = ("/healthz", "/static/")
SECURITY_HEADERS = (("Content-Security-Policy", CONTENT_SECURITY_POLICY),
                    ("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff"),
                    ("Referrer-Policy", "same-origin"))


def is_loopback(host):
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token():
    return secrets.token_urlsafe(24)


def _host_name(netloc):
    """The host part of a Host header or URL netloc, lowercase, without port or brackets."""
    netloc = (netloc or "").strip().lower()
    if netloc.startswith("["):
        return netloc[1:netloc.find("]")] if "]" in netloc else netloc
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


class Guard:
    """The checks for a server bound to `bind_host`.

    token: required beyond loopback (None on loopback: no token asked).
    allowed_hosts: extra Host names accepted (a reverse proxy's name, say).
    """

    def __init__(self, bind_host="127.0.0.1", token=None, allowed_hosts=()):
        self.loopback = is_loopback(bind_host)
        self.token = token
        self.allowed = {h.lower() for h in allowed_hosts} | LOOPBACK_NAMES
        if not self.loopback and bind_host not in ("0.0.0.0", "::", ""):
            self.allowed.add(bind_host.lower())

    def install(self, app):
        """Run the checks before every request of `app`, add the headers to every answer."""
        app.before_request(self.check_request)
        app.after_request(add_headers)

    def check_request(self):
        return self.check(flask.request)

    def check(self, request):
        host = _host_name(request.host)
        if self.loopback and host not in self.allowed and not is_loopback(host):
            raise http.Forbidden(f"Host {request.host!r} is not this server's name (a loopback "
                                 "server answers only localhost / 127.0.0.1 / [::1], or a "
                                 "name given with --allowed-host)")
        if self.token and not request.path.startswith(OPEN_PATHS):
            given = self._given_token(request)
            if given is None or not tokens_equal(given, self.token):
                raise http.Unauthorized("this server needs its token: send "
                                        "'Authorization: Bearer TOKEN' or open it once with "
                                        "?token=TOKEN")
            if request.args.get("token") and request.method == "GET" and \
                    not tokens_equal(request.cookies.get(COOKIE) or "", self.token):
                response = flask.redirect(_without_token(request))
                response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict")
                return response
        if request.method in CHANGING:
            self._check_same_origin(request)
        return None

    @staticmethod
    def _given_token(request):
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return (request.headers.get("X-Auth-Token") or request.args.get("token")
                or request.form.get("token") or request.cookies.get(COOKIE))

    @staticmethod
    def _check_same_origin(request):
        site = request.headers.get("Sec-Fetch-Site")
        if site in ("cross-site", "same-site"):
            raise http.Forbidden("cross-origin request refused")
        origin = request.headers.get("Origin")
        source = origin if origin is not None else request.headers.get("Referer")
        if source is None:
            return
        parsed = urllib.parse.urlsplit(source)
        if origin == "null" or parsed.netloc.lower() != request.host.lower() or \
                parsed.scheme not in ("http", "https"):
            raise http.Forbidden(f"cross-origin request refused (from {source!r})")


def tokens_equal(given, token):
    """Whether `given` is `token`, in constant time; any text (non-ASCII too) compares."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"),
                               token.encode("utf-8", "surrogatepass"))


def add_headers(response):
    """The answer with this server's security headers (unless a route set its own)."""
    headers = response.headers
    present = {name.lower() for name in headers.keys()}     # one pass, not one per header
    for name, value in SECURITY_HEADERS:
        if name.lower() not in present:
            headers.add(name, value)
    return response


def _without_token(request):
    query = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
    return request.path + (("?" + urllib.parse.urlencode(query)) if query else "")
