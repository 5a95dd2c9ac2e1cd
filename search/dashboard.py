"""The dashboard that ``python -m search dashboard`` serves: optuna-dashboard behind a guard against strangers.

optuna-dashboard answers its whole write API (delete or rename a study, tell a trial, upload or
delete artifacts) to whatever reaches its port, whatever name the request was sent to. A web page
reaches a port on 127.0.0.1 in two ways: DNS rebinding (its own name, re-resolved to 127.0.0.1, so
the browser's Host header carries that name) and cross-site requests (the right Host, but the page's
own Origin; a form's POST needs no CORS preflight). :class:`Guard` refuses both, and every method but
GET and HEAD unless writes were asked for, so that a dashboard left open is a window, not a door.
An IP literal in the Host header cannot be rebound (rebinding needs a name the attacker resolves), which
is why a dashboard bound to every interface (``0.0.0.0``) takes any address plus this machine's names.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import re
import socket
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from search.space.messages import excerpt

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from optuna.artifacts._protocol import ArtifactStore
    from optuna.storages import BaseStorage

READ_METHODS = frozenset({"GET", "HEAD"})
LOCAL_NAMES = ("localhost", "127.0.0.1", "[::1]")
EVERY_INTERFACE = frozenset({"0.0.0.0", "[::]", ""})
HIGHEST_PORT = 65535
# A connection that sends nothing (a browser's spare preconnect, a stalled client) is dropped after
# this many seconds instead of holding its thread for as long as the dashboard runs.
IDLE_SECONDS = 30
_AUTHORITY = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9._\-]+)(?::([0-9]{1,5}))?")


class DashboardError(ValueError):
    """The address asked for cannot be served: a port out of range or taken, a host that is not this machine."""


def _bracketed(host: str) -> str:
    """``host`` as it is written in a Host header: an IPv6 literal in brackets, a name in lower case."""
    host = host.strip().lower()
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def _authority(value: str) -> tuple[str, int] | None:
    """``(name, port)`` of a Host header value such as ``localhost:8080`` or ``[::1]:8080`` (port 80 when absent), or None."""
    match = _AUTHORITY.fullmatch(value.strip().lower())
    if match is None:
        return None
    return match.group(1), int(match.group(2) or 80)


class Guard:
    """A WSGI middleware that serves ``app`` only to requests sent to this dashboard's own address, read-only unless ``allow_writes``.

    Refused requests get 403 and a JSON ``{"reason": ...}`` (optuna-dashboard's own error shape, which its
    pages show) saying what was refused and what to do instead.

        >>> ok = Guard(lambda environ, start_response: [b"served"], host="127.0.0.1", port=8080)
        >>> ok.refusal({"REQUEST_METHOD": "GET", "HTTP_HOST": "localhost:8080"}) is None
        True
        >>> ok.refusal({"REQUEST_METHOD": "DELETE", "HTTP_HOST": "attacker.example:8080"})[:46]
        "Host 'attacker.example:8080' is not this dashb"
        >>> ok.refusal({"REQUEST_METHOD": "DELETE", "HTTP_HOST": "127.0.0.1:8080"})[:34]
        'this dashboard is read-only: start'
    """

    def __init__(self, app: WSGIApplication, *, host: str, port: int, allow_writes: bool = False) -> None:
        self.app, self.port, self.allow_writes = app, port, allow_writes
        bound = _bracketed(host)
        self.names = frozenset(LOCAL_NAMES) | ({bound} if bound not in EVERY_INTERFACE else set())
        # bound to every interface: browsed from other machines by this machine's names or any of its addresses
        self.any_address = bound in EVERY_INTERFACE
        if self.any_address:
            self.names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
        self.url = f"http://{'127.0.0.1' if self.any_address else bound}:{port}/"
        self.addresses = ", ".join(f"{name}:{port}" for name in sorted(self.names)) + (", any IP address" if self.any_address else "")

    def ours(self, authority: str) -> bool:
        """Whether a Host header value (or an Origin's ``host:port``) names this dashboard: one of its names, with its port."""
        parsed = _authority(authority)
        if parsed is None:
            return False
        name, port = parsed
        return port == self.port and (name in self.names or (self.any_address and _is_ip_literal(name)))

    def refusal(self, environ: WSGIEnvironment) -> str | None:
        """Why the request in ``environ`` is refused, or None when it is served."""
        host = environ.get("HTTP_HOST")
        if host is None:
            return f"a request without a Host header is refused (a browser always sends one): browse {self.url}"
        if not self.ours(host):
            return (
                f"Host {excerpt(host)!r} is not this dashboard's address ({self.addresses}): "
                f"browse {self.url}, or serve the dashboard on the name and port you browse (python -m search dashboard --host, --port)"
            )
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and not (origin.lower().startswith("http://") and self.ours(origin[len("http://") :])):
            return f"a request from another site (Origin {excerpt(origin)!r}) is refused: open the dashboard itself at {self.url}"
        if not self.allow_writes and environ.get("REQUEST_METHOD", "GET").upper() not in READ_METHODS:
            return (
                "this dashboard is read-only: start it with python -m search dashboard ... --allow-writes "
                "(search.dashboard.serve(..., allow_writes=True)) to delete, rename or edit studies, trials and notes from it"
            )
        return None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        refusal = self.refusal(environ)
        if refusal is None:
            return self.app(environ, start_response)
        body = json.dumps({"reason": refusal}).encode()
        # nosniff: the refusal echoes the Host or Origin it was sent, which must never be read as a page
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("X-Content-Type-Options", "nosniff")]
        start_response("403 Forbidden", headers)
        return [body]


class _Server(ThreadingMixIn, WSGIServer):
    # optuna-dashboard's own command serves from threads too: a slow artifact or a browser's idle
    # connection does not stall every other request.
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(WSGIRequestHandler):
    timeout = IDLE_SECONDS


def bind(host: str, port: int) -> WSGIServer:
    """A threaded WSGI server bound to ``host``:``port`` (0: any free port), or :class:`DashboardError` naming
    ``host=`` or ``port=`` and what to do."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= HIGHEST_PORT:
        raise DashboardError(f"port={excerpt(repr(port))}: expected a port from 1 to {HIGHEST_PORT} (or 0 for any free one)")
    address = host.strip("[]")
    try:
        return (_Server6 if ":" in address else _Server)((address, port), _Handler)
    except socket.gaierror as error:
        raise DashboardError(f"host={excerpt(host)!r}: not a name or address this machine can serve on ({error.strerror})") from None
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise DashboardError(
                f"port={port}: already in use on {excerpt(host)} (another dashboard?): "
                "choose another with port=N, or port=0 for any free one"
            ) from None
        if error.errno in (errno.EACCES, errno.EPERM):
            raise DashboardError(f"port={port}: needs privileges on this machine; choose one from 1024 to {HIGHEST_PORT}") from None
        if error.errno == errno.EADDRNOTAVAIL:
            raise DashboardError(f"host={excerpt(host)!r}: not an address of this machine (127.0.0.1 serves this machine only)") from None
        raise DashboardError(f"host={excerpt(host)!r}, port={port}: cannot be served ({error.strerror or error})") from None


def serve(
    storage: BaseStorage,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    artifact_store: ArtifactStore | None = None,
    allow_writes: bool = False,
    announce: Callable[[str], Any] | None = None,
) -> None:
    """Serve optuna-dashboard on ``storage`` at ``host``:``port`` behind a :class:`Guard` until Ctrl-C.

    ``artifact_store`` holds the trials' pictures; ``allow_writes`` lets the dashboard delete, rename and edit
    (read-only otherwise); ``announce`` is called with the dashboard's URL once the port is bound, so that
    nothing is announced for an address that cannot be served (:class:`DashboardError`).
    """
    from optuna_dashboard import wsgi

    server = bind(host, port)
    with server:
        guard = Guard(wsgi(storage, artifact_store=artifact_store), host=host, port=server.server_port, allow_writes=allow_writes)
        server.set_app(guard)
        if announce is not None:
            announce(f"{guard.url}dashboard/")
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a dashboard is stopped, not an interruption of work
            server.serve_forever()
