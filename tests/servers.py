"""Start real InfluxDB 1.x and VictoriaMetrics servers for tests, on loopback, on free ports.

Plain helpers (no fixtures): ``tests/conftest.py`` wires them into fixtures. Each start
function returns a :class:`ServerHandle` with ``.url``, ``.port``, ``.proc``, ``.stop()``,
``.start()`` and ``.restart()``. A restart keeps the port and the data directory, so data
written before it is still there after it. Every process started here is stopped when the
handle's ``stop()`` runs, at interpreter exit (``atexit``), and - on Linux - also if the test
process dies without cleaning up (the child gets SIGTERM through ``PR_SET_PDEATHSIG``).

Binaries: ``/usr/bin/influxd`` (Debian ``influxdb``, 1.6.7) and ``/usr/bin/victoria-metrics``
(Debian ``victoria-metrics``, 1.79.5); override with $INFLUXD_BIN / $VICTORIA_METRICS_BIN.

VictoriaMetrics 1.79 facts (found with real writes, see tests/stores/influx/test_v2.py):

* It takes InfluxDB line protocol on ``/write`` (v1 style) and ``/api/v2/write`` (v2 style)
  and ignores the ``Authorization`` header (no token check unless ``-httpAuth.*`` is set).
* Metric name = ``{measurement}_{field}``: measurement ``heatpump`` + field ``outdoor_temp``
  -> ``heatpump_outdoor_temp``. Tags become labels as they are (``brand``, ``gateway``,
  ``source``; values like ``127.0.0.1:8081`` survive unchanged).
* ``org`` and ``bucket`` query parameters of ``/api/v2/write`` are IGNORED: no label is
  added for them. Only a ``db`` query parameter adds a label (``db="<value>"``, label name
  from ``-influxDBLabel``), on both ``/write?db=`` and ``/api/v2/write?db=``.
* ``/api/v2/write`` with an empty body answers 204; ``/health`` answers 200 ``OK``;
  ``/ping`` answers 204.
* Freshly written rows are NOT visible in ``/api/v1/export`` for several seconds (6-7 s
  measured): they sit in in-memory buffers, and 1.79 has no flag to shorten that
  (``-inmemoryDataFlushInterval`` came later). ``-search.latencyOffset=0s`` and
  ``-search.disableCache`` do not help the export API (they only concern query/query_range
  and its cache); what works is ``GET /internal/force_flush``, after which the data is
  readable at once. :func:`vm_export` calls it first. The two search flags are still set so
  that PromQL queries (``/api/v1/query_range``) see the newest points and never a stale
  cached result.
* Without deduplication VictoriaMetrics KEEPS every sample: writing the same point three
  times gives three samples with the same timestamp. ``-dedup.minScrapeInterval=1ms`` makes
  one sample per series and millisecond (the export applies it at once); our timestamps sit
  on a whole-second poll grid, so nothing else is merged. Started with it by default
  (``dedup=True``), as a deployment must be for "writing a point again overwrites".
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import httpx

INFLUXD_BIN = os.environ.get("INFLUXD_BIN", "/usr/bin/influxd")
VICTORIA_METRICS_BIN = os.environ.get("VICTORIA_METRICS_BIN", "/usr/bin/victoria-metrics")

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0

_live: "weakref.WeakSet[ServerHandle]" = weakref.WeakSet()


def wait_until(predicate, what: str, timeout: float = 30.0, detail=lambda: ""):  # type: ignore[no-untyped-def]
    """``predicate()``'s first truthy answer, asked every 50 ms; AssertionError naming ``what``
    (and ``detail()``, e.g. a log, read only then) when none comes within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {timeout} s{detail()}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http() -> httpx.Client:
    # trust_env=False: a proxy from the environment must never sit between tests and loopback.
    return httpx.Client(timeout=10.0, trust_env=False)


# -- process handling ----------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1
try:
    _libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
    _prctl = _libc.prctl if _libc is not None else None
except (OSError, AttributeError):  # pragma: no cover - non-glibc platforms
    _prctl = None


def _die_with_parent() -> None:  # runs in the child between fork and exec: keep it tiny
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass(eq=False)
class ServerHandle:
    """One server process. ``stop()``/``start()``/``restart()`` keep port, config and data."""

    name: str
    port: int
    workdir: Path
    argv: list[str]
    ready_path: str
    ready_status: int
    log_path: Path
    #: (username, password) of the admin user when the server runs with auth enabled
    credentials: tuple[str, str] | None = None
    proc: subprocess.Popen | None = None
    _log_file: object = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout_s: float = START_TIMEOUT_S) -> "ServerHandle":
        """Start the process (no-op when running) and wait until it answers its ready check."""
        if self.running:
            return self
        self._log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.argv,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal goes to pytest, which stops us
            preexec_fn=_die_with_parent if _prctl is not None else None,
        )
        _live.add(self)
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM, wait, then SIGKILL. Safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout_s)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        _live.discard(self)

    def restart(self, timeout_s: float = START_TIMEOUT_S) -> "ServerHandle":
        self.stop()
        return self.start(timeout_s)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last = "no answer yet"
        with _http() as client:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    code = None if self.proc is None else self.proc.returncode
                    raise RuntimeError(
                        f"{self.name} exited with code {code} during start-up; log tail:\n{self.log_tail()}"
                    )
                try:
                    resp = client.get(self.url + self.ready_path, timeout=1.0)
                    if resp.status_code == self.ready_status:
                        return
                    last = f"HTTP {resp.status_code}"
                except httpx.TransportError as exc:
                    last = type(exc).__name__
                time.sleep(0.05)
        raise RuntimeError(
            f"{self.name} did not answer {self.ready_path} with {self.ready_status} within "
            f"{timeout_s:g}s (last: {last}); log tail:\n{self.log_tail()}"
        )


@atexit.register
def _stop_all() -> None:
    for handle in list(_live):
        try:
            handle.stop(timeout_s=5)
        except Exception:  # pragma: no cover - best effort at exit
            pass


def _start_with_port_retry(make: Callable[[], ServerHandle], attempts: int = 3) -> ServerHandle:
    """free_port() can race with another process grabbing the port; retry with new ports."""
    for attempt in range(attempts):
        handle = make()
        try:
            return handle.start()
        except RuntimeError:
            if attempt + 1 < attempts and "address already in use" in handle.log_tail(200).lower():
                continue
            raise
    raise AssertionError("unreachable")


# -- InfluxDB 1.x --------------------------------------------------------------------------

_INFLUXD_CONF = """\
reporting-disabled = true
reporting-enabled = false
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{dir}/meta"
  logging-enabled = false

[data]
  dir = "{dir}/data"
  wal-dir = "{dir}/wal"
  wal-fsync-delay = "0s"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  auth-enabled = {auth}
  log-enabled = true
  pprof-enabled = false

[continuous_queries]
  enabled = false

[ifql]
  enabled = false
"""


def start_influxdb1(
    tmpdir: str | os.PathLike,
    *,
    auth: bool = False,
    username: str = "admin",
    password: str = "admin-pw-Zq7",
) -> ServerHandle:
    """Start ``influxd run -config <tmpdir>/influxdb.conf`` and wait for ``/ping`` -> 204.

    Both listeners on 127.0.0.1 (HTTP and the RPC/backup port); meta, data and wal under
    ``tmpdir``; usage reporting, the ``_internal`` monitor store and continuous queries off.

    ``auth=True`` starts with ``auth-enabled = true`` and creates the admin user
    (``CREATE USER .. WITH ALL PRIVILEGES`` over ``/query``), which InfluxDB allows without
    credentials while no user exists; ``handle.credentials`` is then ``(username, password)``.
    Debian's build spells the config key ``reporting-enabled``, upstream ``reporting-disabled``;
    both are written (unknown keys are ignored).
    """
    base = Path(tmpdir)
    base.mkdir(parents=True, exist_ok=True)

    def make() -> ServerHandle:
        http_port, rpc_port = free_port(), free_port()
        while rpc_port == http_port:
            rpc_port = free_port()
        conf = base / "influxdb.conf"
        conf.write_text(
            _INFLUXD_CONF.format(
                dir=base.as_posix(), rpc_port=rpc_port, http_port=http_port, auth="true" if auth else "false"
            )
        )
        return ServerHandle(
            name="influxd",
            port=http_port,
            workdir=base,
            argv=[INFLUXD_BIN, "run", "-config", str(conf)],
            ready_path="/ping",
            ready_status=204,
            log_path=base / "influxd.log",
        )

    handle = _start_with_port_retry(make)
    if auth:
        try:
            with _http() as client:
                resp = client.post(
                    handle.url + "/query",
                    data={"q": f"CREATE USER \"{username}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES"},
                )
            if resp.status_code != 200 or "error" in resp.text:
                raise RuntimeError(f"creating the InfluxDB admin user failed: HTTP {resp.status_code} {resp.text}")
        except BaseException:
            handle.stop()
            raise
        handle.credentials = (username, password)
    return handle


def influx1_query(
    url: str,
    db: str | None,
    q: str,
    *,
    auth: tuple[str, str] | None = None,
    epoch: str | None = "ms",
) -> dict:
    """Run InfluxQL ``q`` (POST /query) and return the parsed JSON. Raises RuntimeError on an
    HTTP error or an ``error`` in any statement result. Timestamps as epoch ``epoch`` units."""
    params: dict[str, str] = {"q": q}
    if db:
        params["db"] = db
    if epoch:
        params["epoch"] = epoch
    with _http() as client:
        resp = client.post(url.rstrip("/") + "/query", data=params, auth=auth)
    if resp.status_code != 200:
        raise RuntimeError(f"InfluxQL {q!r} failed: HTTP {resp.status_code} {resp.text}")
    doc = resp.json()
    for result in doc.get("results", []):
        if "error" in result:
            raise RuntimeError(f"InfluxQL {q!r} failed: {result['error']}")
    return doc


def influx1_rows(doc: dict) -> list[dict]:
    """Flatten an :func:`influx1_query` answer to one dict per row (columns + series tags +
    ``_measurement``), over all statements and series."""
    rows: list[dict] = []
    for result in doc.get("results", []):
        for series in result.get("series", []):
            for values in series.get("values", []):
                row = dict(zip(series["columns"], values))
                row.update(series.get("tags") or {})
                row["_measurement"] = series.get("name")
                rows.append(row)
    return rows


# -- VictoriaMetrics -----------------------------------------------------------------------


def start_victoriametrics(tmpdir: str | os.PathLike, *, dedup: bool = True) -> ServerHandle:
    """Start ``victoria-metrics`` and wait for ``/health`` -> 200.

    Flags: ``-httpListenAddr=127.0.0.1:<port> -storageDataPath=<tmpdir>/vm-data
    -retentionPeriod=100y -search.latencyOffset=0s -search.disableCache`` and, with
    ``dedup`` (default), ``-dedup.minScrapeInterval=1ms``. See the module doc for why.
    """
    base = Path(tmpdir)
    base.mkdir(parents=True, exist_ok=True)

    def make() -> ServerHandle:
        port = free_port()
        argv = [
            VICTORIA_METRICS_BIN,
            f"-httpListenAddr=127.0.0.1:{port}",
            f"-storageDataPath={base / 'vm-data'}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
            "-search.disableCache",
        ]
        if dedup:
            argv.append("-dedup.minScrapeInterval=1ms")
        return ServerHandle(
            name="victoria-metrics",
            port=port,
            workdir=base,
            argv=argv,
            ready_path="/health",
            ready_status=200,
            log_path=base / "victoria-metrics.log",
        )

    return _start_with_port_retry(make)


def vm_flush(url: str) -> None:
    """Make everything written so far searchable (``/internal/force_flush``)."""
    with _http() as client:
        resp = client.get(url.rstrip("/") + "/internal/force_flush")
    if resp.status_code != 200:
        raise RuntimeError(f"VictoriaMetrics force_flush failed: HTTP {resp.status_code} {resp.text}")


def vm_export(url: str, match: str = '{__name__=~"heatpump_.*"}') -> list[dict]:
    """All raw samples of the series matching ``match``, via ``/api/v1/export`` (JSON lines).

    Flushes first (see the module doc). Each item:
    ``{"metric": {"__name__": ..., <labels>}, "values": [...], "timestamps": [ms, ...]}``;
    sorted by metric name and labels for stable comparisons.
    """
    vm_flush(url)
    with _http() as client:
        resp = client.get(url.rstrip("/") + "/api/v1/export", params={"match[]": match})
    if resp.status_code != 200:
        raise RuntimeError(f"VictoriaMetrics export failed: HTTP {resp.status_code} {resp.text}")
    series = [json.loads(line) for line in resp.text.splitlines() if line.strip()]
    series.sort(key=lambda s: json.dumps(s["metric"], sort_keys=True))
    return series


# -- Mosquitto (MQTT broker) ---------------------------------------------------------------
#
# Debian ``mosquitto`` 2.0.11: the broker is ``/usr/sbin/mosquitto`` (override with
# $MOSQUITTO_BIN), the password tool ``/usr/bin/mosquitto_passwd`` ($MOSQUITTO_PASSWD_BIN),
# both from the same package. Mosquitto 2 refuses anonymous clients unless the listener says
# ``allow_anonymous true``; with a username we write a password file instead
# (``mosquitto_passwd -b -c``) and anonymous clients are refused (CONNACK 5).

MOSQUITTO_BIN = os.environ.get("MOSQUITTO_BIN", "/usr/sbin/mosquitto")
MOSQUITTO_PASSWD_BIN = os.environ.get("MOSQUITTO_PASSWD_BIN", "/usr/bin/mosquitto_passwd")

_MOSQUITTO_CONF = """\
# written by tests/servers.py:start_mosquitto
per_listener_settings false
listener {port} 127.0.0.1
{auth}
persistence false
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
log_timestamp true
{user}
"""


def mqtt_connack(
    host: str,
    port: int,
    *,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 2.0,
    client_id: str = "servers-py-ready",
) -> int:
    """Open a TCP connection, send an MQTT 3.1.1 CONNECT, and return the CONNACK return code
    (0 accepted, 4 bad user name or password, 5 not authorized). Then DISCONNECT and close.
    Raises OSError when the port does not answer or the answer is not a CONNACK."""

    def utf8(text: str) -> bytes:
        data = text.encode()
        return len(data).to_bytes(2, "big") + data

    flags = 0x02  # clean session
    payload = utf8(client_id)
    if username is not None:
        flags |= 0x80
        payload += utf8(username)
        if password is not None:
            flags |= 0x40
            payload += utf8(password)
    variable = utf8("MQTT") + bytes([4, flags]) + (30).to_bytes(2, "big")
    body = variable + payload
    length = len(body)
    encoded = bytearray()
    while True:  # MQTT "remaining length" varint
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            break
    packet = bytes([0x10]) + bytes(encoded) + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(packet)
        answer = b""
        while len(answer) < 4:
            chunk = sock.recv(4 - len(answer))
            if not chunk:
                raise ConnectionError(f"MQTT broker closed the connection after {answer!r}")
            answer += chunk
        if answer[0] != 0x20 or answer[1] != 2:
            raise ConnectionError(f"not an MQTT CONNACK: {answer!r}")
        if answer[3] == 0:
            with contextlib.suppress(OSError):
                sock.sendall(b"\xe0\x00")  # DISCONNECT
        return answer[3]


@dataclass(eq=False)
class MqttServerHandle(ServerHandle):
    """A :class:`ServerHandle` whose ready check is an MQTT CONNECT answered with a CONNACK
    (any return code: a broker with a password file refuses the anonymous probe, with
    credentials set the probe uses them and must be accepted)."""

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last = "no answer yet"
        user, pw = self.credentials if self.credentials else (None, None)
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise RuntimeError(
                    f"{self.name} exited with code {code} during start-up; log tail:\n{self.log_tail()}"
                )
            try:
                rc = mqtt_connack("127.0.0.1", self.port, username=user, password=pw, timeout=1.0)
                if rc == 0 or self.credentials is None:
                    return
                raise RuntimeError(
                    f"{self.name} refused the configured credentials (CONNACK {rc}); log tail:\n{self.log_tail()}"
                )
            except OSError as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.05)
        raise RuntimeError(
            f"{self.name} did not answer an MQTT CONNECT within {timeout_s:g}s (last: {last}); "
            f"log tail:\n{self.log_tail()}"
        )


def start_mosquitto(
    tmpdir: str | os.PathLike,
    *,
    username: str | None = None,
    password: str | None = None,
) -> MqttServerHandle:
    """Start ``mosquitto -c <tmpdir>/mosquitto.conf`` on ``127.0.0.1:<free port>`` and wait
    until it answers an MQTT CONNECT with a CONNACK.

    Config: one listener on loopback, ``persistence false``, log (with connection messages)
    to stderr, which the handle writes to ``<tmpdir>/mosquitto.log`` (``handle.log_tail()``).
    Without ``username`` anonymous clients are allowed; with it, a password file made with
    ``mosquitto_passwd -b -c`` holds the one user, anonymous clients are refused, and
    ``handle.credentials`` is ``(username, password)``. ``handle.url`` is
    ``mqtt://127.0.0.1:<port>``; ``restart()`` keeps the port (mosquitto binds with
    SO_REUSEADDR). When run as root the broker is told ``user root`` so it does not drop to
    the ``mosquitto`` user (which could not read the tmpdir files).
    """
    base = Path(tmpdir)
    base.mkdir(parents=True, exist_ok=True)
    if password is not None and username is None:
        raise ValueError("a password needs a username")
    if username is not None:
        if ":" in username:
            raise ValueError("an MQTT user name for mosquitto_passwd must not contain ':'")
        pwfile = base / "mosquitto.passwd"
        pwfile.unlink(missing_ok=True)
        done = subprocess.run(
            [MOSQUITTO_PASSWD_BIN, "-b", "-c", str(pwfile), username, password or ""],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
        )
        if done.returncode != 0:
            raise RuntimeError(f"mosquitto_passwd failed ({done.returncode}): {done.stderr or done.stdout}")
        auth = f"allow_anonymous false\npassword_file {pwfile}"
    else:
        auth = "allow_anonymous true"
    user = "user root" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""

    def make() -> MqttServerHandle:
        port = free_port()
        conf = base / "mosquitto.conf"
        conf.write_text(_MOSQUITTO_CONF.format(port=port, auth=auth, user=user))
        return MqttServerHandle(
            name="mosquitto",
            port=port,
            workdir=base,
            argv=[MOSQUITTO_BIN, "-c", str(conf)],
            ready_path="",
            ready_status=0,
            log_path=base / "mosquitto.log",
            credentials=(username, password or "") if username is not None else None,
        )

    return _start_with_port_retry(make)  # type: ignore[return-value]


def mqtt_host_port(handle: ServerHandle) -> tuple[str, int]:
    """(host, port) an MQTT client connects to for a :func:`start_mosquitto` handle."""
    return "127.0.0.1", handle.port
