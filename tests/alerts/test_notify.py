"""Delivery through real local receivers started here: an SMTP server (aiosmtpd) and an HTTP
server for apprise's generic JSON webhook and ntfy formats; and no URL secret in any output."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from heatpump_monitor.alerts.notify import Notifier
from heatpump_monitor.config import ConfigError, env_secrets, load_notify_urls
from heatpump_monitor.logs import setup_logging
from heatpump_monitor.masking import Secrets

from ..servers import free_port


class HttpReceiver:
    """A loopback HTTP server that records every request (path, headers, body) and answers 200."""

    def __init__(self, port: int = 0) -> None:
        self.requests: list[tuple[str, dict[str, str], str]] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                n = int(self.headers.get("Content-Length") or 0)
                received.append((self.path, dict(self.headers), self.rfile.read(n).decode("utf-8", "replace")))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            do_PUT = do_POST

            def log_message(self, *args: object) -> None:  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def text(self) -> str:
        """Everything received, headers and bodies (ntfy puts the title in a header or the JSON)."""
        return "\n".join(f"{p} {json.dumps(h)} {b}" for p, h, b in self.requests)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_receiver():
    r = HttpReceiver()
    yield r
    r.stop()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp_server():
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, box
    controller.stop()


def test_json_webhook_receives_title_and_body(http_receiver):
    n = Notifier([f"json://127.0.0.1:{http_receiver.port}/hook"], Secrets())
    results = n.send("Pump alarm", "gw1: high pressure since 03:12")
    assert [r.ok for r in results] == [True]
    path, _, body = http_receiver.requests[0]
    doc = json.loads(body)
    assert path == "/hook" and doc["title"] == "Pump alarm" and doc["message"] == "gw1: high pressure since 03:12"


def test_ntfy_receives_title_and_body(http_receiver):
    n = Notifier([f"ntfy://127.0.0.1:{http_receiver.port}/heatpump-alerts"], Secrets())
    assert n.send("Hot water low", "gw2: 38.5 C < 40 C for 30 min")[0].ok
    text = http_receiver.text()
    assert "Hot water low" in text and "gw2: 38.5 C < 40 C for 30 min" in text and "heatpump-alerts" in text


def test_email_reaches_the_smtp_server(smtp_server):
    port, box = smtp_server
    n = Notifier([f"mailto://127.0.0.1:{port}?from=alerts@example.com&to=owner@example.com&mode=insecure"], Secrets())
    assert n.send("Brine delta T high", "gw1: 5.2 K > 4 K")[0].ok
    assert len(box.messages) == 1
    mail = box.messages[0].decode()
    assert "Subject: Brine delta T high" in mail and "gw1: 5.2 K > 4 K" in mail and "owner@example.com" in mail


def test_one_failing_target_does_not_stop_the_others(http_receiver):
    dead = free_port()
    n = Notifier([f"json://127.0.0.1:{dead}/x", f"json://127.0.0.1:{http_receiver.port}/y"], Secrets())
    first, second = n.send("t", "b")
    assert (first.ok, second.ok) == (False, True)
    assert first.target == "1 json://***" and first.cause and second.cause == ""
    assert len(http_receiver.requests) == 1


def test_an_invalid_url_is_one_config_error_naming_it_redacted():
    with pytest.raises(ConfigError) as exc:
        Notifier(["ntfy://127.0.0.1:1/ok", "nosuchservice://user:hunter2pw@host/tokenvalue123"], Secrets())
    msg = str(exc.value)
    assert "2 nosuchservice://***" in msg and "hunter2pw" not in msg and "tokenvalue123" not in msg


def test_notify_urls_setting_is_split_and_checked():
    assert load_notify_urls({}) == []
    assert load_notify_urls({"NOTIFY_URLS": " ntfy://a/b , json://h:1/p,"}) == ["ntfy://a/b", "json://h:1/p"]
    with pytest.raises(ConfigError, match=r"\*\*\*") as exc:
        load_notify_urls({"NOTIFY_URLS": "ntfy://a/b,justasecretword"})
    assert "justasecretword" not in str(exc.value)


PASSWORD = "pw-Zq81xRt"
TOKEN = "tok9XfLmQ2"


def test_no_secret_of_a_url_in_logs_errors_or_results(http_receiver):
    """A password (sent as basic auth) and a token in the path: neither, nor the base64 of
    user:password, appears in a result, a log line (ours or apprise's) or an error."""
    good = f"json://alice:{PASSWORD}@127.0.0.1:{http_receiver.port}/{TOKEN}"
    bad = f"json://alice:{PASSWORD}@127.0.0.1:{free_port()}/{TOKEN}"
    env = {"NOTIFY_URLS": f"{good},{bad}"}
    stream = io.StringIO()
    setup_logging("DEBUG", secrets=env_secrets(env), stream=stream)
    try:
        n = Notifier(load_notify_urls(env), env_secrets(env))
        results = n.send("title", "body")
        logging.getLogger("apprise").error("echo %s %s", good, bad)  # apprise's own lines stay out
        logging.getLogger("test").error("echo %s", good)
    finally:
        setup_logging("WARNING")
    assert [r.ok for r in results] == [True, False]
    # the receiver got the credentials: the secret really was used
    assert http_receiver.requests[0][1]["Authorization"].startswith("Basic ")
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    output = stream.getvalue() + repr(results) + repr(n.targets)
    assert "echo" in output and "***" in output
    for secret in (PASSWORD, TOKEN, basic, basic.rstrip("=")):
        assert secret not in output


def test_secrets_of_urls_are_masked_by_env_secrets():
    env = {"NOTIFY_URLS": "tgram://123456789:AAbbCCddEEff/4711,mailtos://me:hunter22@mail.example.com,"
                          "ntfys://private-topic-xyz"}
    masked = env_secrets(env).mask("bot 123456789:AAbbCCddEEff pass hunter22 topic private-topic-xyz host mail.example.com")
    assert masked == "bot *** pass *** topic *** host mail.example.com"


def _cli(env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k != "NOTIFY_URLS"} | env
    return subprocess.run([sys.executable, "-m", "heatpump_monitor", "notify-test"], env=full,
                          capture_output=True, text=True, timeout=120)


def test_notify_test_command_reports_each_target(http_receiver):
    dead = free_port()
    out = _cli({"NOTIFY_URLS": f"json://u:{PASSWORD}@127.0.0.1:{http_receiver.port}/{TOKEN},"
                               f"json://u:{PASSWORD}@127.0.0.1:{dead}/{TOKEN}"})
    assert out.returncode == 1, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "1 json://***: ok"
    assert lines[1].startswith("2 json://***: failed: ")
    assert len(http_receiver.requests) == 1 and "test" in http_receiver.requests[0][2]
    for secret in (PASSWORD, TOKEN):
        assert secret not in out.stdout + out.stderr


def test_notify_test_command_all_ok_and_unset(http_receiver):
    ok = _cli({"NOTIFY_URLS": f"ntfy://127.0.0.1:{http_receiver.port}/topic1"})
    assert ok.returncode == 0 and ok.stdout.strip() == "1 ntfy://***: ok"
    unset = _cli({})
    assert unset.returncode == 2 and unset.stdout == "" and len(unset.stderr.strip().splitlines()) == 1
    assert "NOTIFY_URLS" in unset.stderr
