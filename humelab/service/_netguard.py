"""Outgoing HTTP of the Batch service (URL downloads, callbacks), guarded against SSRF.

The service fetches URLs and calls callbacks that its clients name, so by default it
connects only to public addresses: a destination that is (or resolves to) a loopback,
private, link-local, shared, multicast, reserved or unspecified address, in IPv4 or
IPv6 and in any spelling (``2130706433``, ``127.1``, ``0x7f.0.0.1``,
``[::ffff:127.0.0.1]``, 6to4 and Teredo addresses carrying one), is refused before
any connection is made. Each host is resolved once; the connection goes to the
address that was checked (the name is sent as ``Host`` and as TLS SNI, and the
certificate is verified against it), so a second DNS answer cannot redirect it
(no DNS rebinding). Redirects are followed by hand, each hop checked again.

Every failure to reach a host reads the same ("no HTTP answer"), whether the port was
closed, filtered, or spoke something else, so error messages cannot be used to scan
ports. One retry policy (:func:`retry_policy`, a ``urllib3.Retry``) serves both URL
downloads and callback delivery.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

__all__ = [
    "NetGuard",
    "Refused",
    "FetchFailed",
    "forbidden_reason",
    "retry_policy",
    "literal_address",
]

#: Redirect hops followed for a GET before giving up.
MAX_REDIRECTS = 5
_USER_AGENT = "humelab-batch-service"
_OPT_IN = (
    "this service connects only to public addresses; start it with "
    "allow_private_urls=True (`humelab serve --allow-private-urls`) to allow "
    "loopback and private ones"
)


class Refused(Exception):
    """The destination is not allowed (message says why, and how to opt in)."""


class FetchFailed(Exception):
    """The destination could not be reached or answered badly (message for users)."""


def retry_policy(*, total: int, backoff: float = 0.5, methods=None):
    """The one retry policy of outgoing requests (downloads and callbacks).

    Retries connection errors and the answers 429, 500, 502, 503 and 504, with
    exponential backoff (``backoff``, doubling) honouring ``Retry-After``; redirects
    are never followed by it (:class:`NetGuard` checks each hop itself).

    Parameters
    ----------
    total : int
        Retries after the first attempt.
    backoff : float
        Seconds before the first retry.
    methods : iterable of str, optional
        Methods retried (default: every method; a callback POST is idempotent for
        its receiver, which gets ``job_id`` in the body).

    Returns
    -------
    urllib3.util.Retry
    """
    from urllib3.util import Retry

    return Retry(
        total=int(total),
        connect=int(total),
        read=int(total),
        redirect=0,
        other=0,
        status=int(total),
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None if methods is None else frozenset(methods),
        backoff_factor=float(backoff) / 2,  # urllib3: factor * 2 ** (retry - 1)
        backoff_max=60.0,
        raise_on_status=False,
        raise_on_redirect=False,
        respect_retry_after_header=True,
    )


def _embedded_v4(ip: ipaddress.IPv6Address):
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in ipaddress.ip_network("64:ff9b::/96"):  # NAT64 well-known prefix
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def forbidden_reason(address) -> str | None:
    """Why ``address`` is not public (``"loopback"``, ``"private"``, ...), or None.

    Parameters
    ----------
    address : str or ipaddress.IPv4Address or ipaddress.IPv6Address
        An IP address (IPv6 may carry a ``%zone``).

    Returns
    -------
    str or None
        None for a public unicast address.

    Examples
    --------
    >>> forbidden_reason("127.0.0.1"), forbidden_reason("::ffff:10.0.0.1")
    ('loopback', 'private')
    >>> forbidden_reason("8.8.8.8") is None
    True
    """
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if ip.version == 6:
        inner = _embedded_v4(ip)
        if inner is not None:
            reason = forbidden_reason(inner)
            if reason:
                return reason
    for attr in (
        "is_unspecified",
        "is_loopback",
        "is_link_local",
        "is_multicast",
        "is_private",
        "is_reserved",
    ):
        if getattr(ip, attr):
            return attr[3:].replace("_", "-")
    if not ip.is_global:
        return "not globally routable"
    return None


def literal_address(host: str):
    """The IP address a host name spells without DNS, or None for a real name.

    Every spelling the C library accepts counts (``2130706433``, ``127.1``,
    ``0x7f.0.0.1``, ``017700000001``), since that is what a connection would use.
    """
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        info = socket.getaddrinfo(
            host, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
        )
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return ipaddress.ip_address(info[0][4][0].split("%", 1)[0])


def _split(url: str):
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise Refused(f"{url!r} is not a valid URL ({exc}).") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise Refused(f"{url!r} is not an http(s) URL with a host.")
    port = port or (443 if scheme == "https" else 80)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return scheme, host, port, target


class _Watch:
    """Shuts down every socket of one transfer when its wall-clock deadline passes."""

    def __init__(self, seconds: float | None):
        self.expired = False
        self.pools: list = []
        self._socks: list = []
        self._lock = threading.Lock()
        self._timer = None
        if seconds is not None:
            self._timer = threading.Timer(max(0.0, seconds), self._expire)
            self._timer.daemon = True
            self._timer.start()

    def add(self, sock) -> None:
        with self._lock:
            self._socks.append(sock)
            if self.expired:
                self._shut(sock)

    @staticmethod
    def _shut(sock) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for s in self._socks:
                self._shut(s)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def close(self) -> None:
        """Cancel the deadline and close the connections of the transfer."""
        self.cancel()
        for pool in self.pools:
            pool.close()
        self.pools.clear()


class NetGuard:
    """Checked, pinned outgoing HTTP for the service.

    Parameters
    ----------
    allow_private : bool or iterable of str
        ``True`` allows every address (a service on a lab network, tests on
        loopback); a list of networks (``["10.1.0.0/16"]``) allows those besides
        public addresses; ``False`` (default) allows public addresses only.
    resolve : callable, optional
        ``resolve(host, port) -> list of address strings``; default: the system
        resolver (``socket.getaddrinfo``).
    resolve_timeout : float
        Seconds to wait for the resolver.
    """

    def __init__(
        self,
        *,
        allow_private: bool | Iterable[str] = False,
        resolve: Callable[[str, int], list[str]] | None = None,
        resolve_timeout: float = 10.0,
    ):
        if allow_private is True or allow_private is False:
            self.allow_all = bool(allow_private)
            self.networks: tuple = ()
        else:
            self.allow_all = False
            self.networks = tuple(
                ipaddress.ip_network(n, strict=False) for n in allow_private
            )
        self._resolve = resolve or _system_resolve
        self.resolve_timeout = float(resolve_timeout)

    # -- checks ---------------------------------------------------------------------

    def _reason(self, ip) -> str | None:
        if self.allow_all:
            return None
        if any(ip.version == n.version and ip in n for n in self.networks):
            return None
        return forbidden_reason(ip)

    def check_url(self, url: str) -> None:
        """Refuse a URL whose host is a literal non-public address or ``localhost``.

        No DNS is asked; names are checked when they are resolved (:meth:`addresses`).

        Raises
        ------
        Refused
            Naming the address and its kind, and the opt-in.
        """
        _, host, _, _ = _split(url)
        if self.allow_all:
            return
        ip = literal_address(host)
        name = host.lower().rstrip(".")
        if ip is None and (name == "localhost" or name.endswith(".localhost")):
            ip = ipaddress.ip_address("127.0.0.1")
        if ip is not None:
            reason = self._reason(ip)
            if reason:
                shown = host if host.strip("[]") == str(ip) else f"{host} ({ip})"
                raise Refused(
                    f"its host {shown} is not a public address ({reason}); "
                    + _OPT_IN
                    + "."
                )

    def addresses(self, host: str, port: int) -> list[str]:
        """Resolve ``host`` once and check every address; return them.

        Raises
        ------
        Refused
            When any address is not allowed.
        FetchFailed
            When the name does not resolve (in time).
        """
        ip = literal_address(host)
        if ip is not None:
            found = [str(ip)]
        else:
            found = self._resolve_bounded(host, port)
        if not found:
            raise FetchFailed(f"the host name {host} does not resolve")
        for a in found:
            ip = ipaddress.ip_address(a.split("%", 1)[0])
            reason = self._reason(ip)
            if reason:
                raise Refused(
                    f"its host {host} resolves to {ip}, not a public address "
                    f"({reason}); " + _OPT_IN + "."
                )
        return found

    def _resolve_bounded(self, host: str, port: int) -> list[str]:
        out: list = []
        err: list = []

        def run():
            try:
                out.extend(self._resolve(host, port))
            except Exception as exc:  # noqa: BLE001 - reported below
                err.append(exc)

        t = threading.Thread(target=run, name="humelab-resolve", daemon=True)
        t.start()
        t.join(self.resolve_timeout)
        if t.is_alive() or err:
            raise FetchFailed(f"the host name {host} does not resolve")
        return out

    # -- transfers ------------------------------------------------------------------

    def _pool(self, scheme, host, ip, port, watch, timeout):
        import urllib3

        base = (
            urllib3.connection.HTTPSConnection
            if scheme == "https"
            else urllib3.connection.HTTPConnection
        )

        class Conn(base):
            def connect(self):
                super().connect()
                watch.add(self.sock)

        kw = {}
        if scheme == "https":
            import certifi

            kw = dict(
                server_hostname=host,
                assert_hostname=host,
                cert_reqs="CERT_REQUIRED",
                ca_certs=certifi.where(),
            )
            cls = urllib3.HTTPSConnectionPool
        else:
            cls = urllib3.HTTPConnectionPool
        pool = cls(ip, port, timeout=timeout, maxsize=1, retries=False, **kw)
        pool.ConnectionCls = Conn
        watch.pools.append(pool)
        return pool

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: dict | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        deadline: float | None = None,
        retries=None,
        follow_redirects: bool = True,
    ):
        """Send one request through checked, pinned connections.

        Parameters
        ----------
        method, url : str
            The request.
        body : bytes, optional
            Request body.
        headers : dict, optional
            Extra headers.
        connect_timeout, read_timeout : float
            Seconds to connect, and between received bytes.
        deadline : float, optional
            ``time.monotonic()`` value after which every socket of the transfer is
            shut down, whatever it is doing (a wall-clock cap on the whole transfer,
            body included).
        retries : urllib3.util.Retry, optional
            Retry policy (:func:`retry_policy`); default: no retries.
        follow_redirects : bool
            Follow 301/302/303/307/308 (GET only), checking each hop.

        Returns
        -------
        (urllib3.HTTPResponse, str, _Watch)
            The open response (body not read), the final URL, and the deadline watch
            (call ``watch.close()`` when done).

        Raises
        ------
        Refused
            A hop is not allowed.
        FetchFailed
            No HTTP answer, too many redirects, or the deadline passed.
        """
        import urllib3

        remaining = None if deadline is None else deadline - time.monotonic()
        watch = _Watch(remaining)
        try:
            for _ in range(MAX_REDIRECTS + 1):
                scheme, host, port, target = _split(url)
                ips = self.addresses(host, port)
                default = 443 if scheme == "https" else 80
                hosthdr = host if ":" not in host else f"[{host}]"
                if port != default:
                    hosthdr += f":{port}"
                hdrs = {
                    "Host": hosthdr,
                    "User-Agent": _USER_AGENT,
                    "Accept-Encoding": "identity",
                }
                hdrs.update(headers or {})
                timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
                for n, ip in enumerate(ips):  # each checked address, in order
                    pool = self._pool(scheme, host, ip, port, watch, timeout)
                    try:
                        resp = pool.urlopen(
                            method,
                            target,
                            body=body,
                            headers=hdrs,
                            retries=retries if retries is not None else False,
                            redirect=False,
                            assert_same_host=False,
                            preload_content=False,
                            decode_content=False,
                            release_conn=False,
                        )
                        break
                    except (urllib3.exceptions.HTTPError, OSError) as exc:
                        reason = getattr(exc, "reason", None) or exc
                        unreachable = isinstance(
                            reason,
                            (
                                urllib3.exceptions.NewConnectionError,
                                urllib3.exceptions.ConnectTimeoutError,
                            ),
                        )
                        if unreachable and n + 1 < len(ips) and not watch.expired:
                            continue  # this address does not answer: the next one
                        raise FetchFailed(
                            self._no_answer(watch, read_timeout)
                        ) from None
                location = resp.headers.get("Location")
                if (
                    follow_redirects
                    and method == "GET"
                    and resp.status in (301, 302, 303, 307, 308)
                    and location
                ):
                    resp.release_conn()
                    resp.close()  # its body is not read: this pool is not reused
                    url = urljoin(url, location)
                    continue
                return resp, url, watch
            raise FetchFailed(f"more than {MAX_REDIRECTS} redirects")
        except BaseException:
            watch.close()
            raise

    @staticmethod
    def _no_answer(watch: _Watch, seconds: float) -> str:
        if watch.expired:
            return "DEADLINE"
        # One message for refused, filtered, reset and non-HTTP ports alike.
        return f"no response within {seconds:g} s"

    def fetch_to(
        self,
        url: str,
        out: BinaryIO,
        *,
        cap: int,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        total_timeout: float | None = None,
        retries=None,
        on_chunk: Callable[[int], None] | None = None,
    ) -> int:
        """GET ``url`` into ``out``; return the byte count.

        The body is taken as sent (no content decoding, so no decompression bomb),
        at most ``cap`` bytes, under a wall-clock ``total_timeout``.

        Raises
        ------
        Refused
            A hop is not allowed.
        FetchFailed
            With a message for users (``"DEADLINE"`` when ``total_timeout`` passed;
            the caller words it). Never tells a closed port from an open one.
        """
        import urllib3

        deadline = None if total_timeout is None else time.monotonic() + total_timeout
        resp, final, watch = self.request(
            "GET",
            url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            deadline=deadline,
            retries=retries,
        )
        try:
            if resp.status >= 400:
                raise FetchFailed(f"HTTP {resp.status} {resp.reason or ''}".strip())
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > cap:
                raise FetchFailed(f"TOO_LARGE:{int(declared)}")
            size = 0
            try:
                while True:
                    chunk = resp.read1(256 * 1024)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > cap:
                        raise FetchFailed("TOO_LARGE")
                    if watch.expired:
                        raise FetchFailed("DEADLINE")
                    out.write(chunk)
                    if on_chunk is not None:
                        on_chunk(len(chunk))
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if (
                    isinstance(exc, OSError)
                    and not isinstance(
                        exc, (ConnectionError, TimeoutError, socket.timeout)
                    )
                    and not watch.expired
                ):
                    raise  # the service's own file system: the caller says so
                raise FetchFailed(
                    "DEADLINE" if watch.expired else "the transfer broke off"
                ) from None
            if watch.expired:
                raise FetchFailed("DEADLINE")
            if declared.isdigit() and size < int(declared):
                raise FetchFailed("the transfer broke off")
            return size
        finally:
            resp.release_conn()
            resp.close()
            watch.close()


def _system_resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for _family, *_, sockaddr in infos:
        a = sockaddr[0]
        if a not in seen:
            seen.append(a)
    return seen
