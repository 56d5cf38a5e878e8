"""Slow and idle clients when the server speaks TLS itself (`tls.certificate` set), through the
real server: silent connections (no ClientHello), slowloris after the handshake, and a 10 MB
upload without a login hold no worker and do not stop the accept loop."""

from __future__ import annotations

import base64
import socket
import ssl
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from davserver.config import ServerConfig, TLSConfig
from tests.conftest import DEMO_PASSWORD, DEMO_USER, start_server


def make_certificate(folder: Path) -> tuple[Path, Path]:
    crt, key = folder / "server.crt", folder / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        + ["-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(crt)],
        check=True,
        capture_output=True,
    )
    return crt, key


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory) -> Iterator:
    folder = tmp_path_factory.mktemp("tls")
    crt, key = make_certificate(folder)
    config = ServerConfig(tls=TLSConfig(certificate=str(crt), private_key=str(key)))
    live = start_server(f"sqlite:///{folder / 'praxis.db'}", config)
    live.certificate = crt
    yield live
    live.server.stop()


def port_of(live) -> int:
    return live.server.bind_addr[1]


def client_context(live) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(live.certificate))


def tls_connection(live) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port_of(live)), timeout=10)
    return client_context(live).wrap_socket(raw, server_hostname="127.0.0.1")


def test_a_request_over_tls_is_answered(tls_server):
    with requests.Session() as session:
        resp = session.request(
            "PROPFIND",
            f"https://127.0.0.1:{port_of(tls_server)}/anna_maier/",
            headers={"Depth": "0"},
            auth=(DEMO_USER, DEMO_PASSWORD),
            verify=str(tls_server.certificate),  # per request: $REQUESTS_CA_BUNDLE beats Session.verify
            timeout=10,
        )
        assert resp.status_code == 207
        assert resp.request.url.startswith("https:")


def test_slow_and_silent_tls_clients_hold_no_worker(tls_server):
    """200 connections that never say hello, 200 slowloris after a finished handshake; 8 workers."""
    port = port_of(tls_server)
    silent, slow = [], []
    try:
        for _ in range(200):
            silent.append(socket.create_connection(("127.0.0.1", port), timeout=10))
            sock = tls_connection(tls_server)
            sock.sendall(b"PROPFIND /anna_maier/ HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            slow.append(sock)
        timings = []
        with requests.Session() as session:
            for _ in range(5):
                for sock in slow:  # still trickling in (or closed: its head took too long)
                    try:
                        sock.sendall(b"a")
                    except OSError:
                        pass
                started = time.perf_counter()
                resp = session.request(
                    "PROPFIND",
                    f"https://127.0.0.1:{port}/anna_maier/",
                    headers={"Depth": "0"},
                    auth=(DEMO_USER, DEMO_PASSWORD),
                    verify=str(tls_server.certificate),
                    timeout=10,
                )
                timings.append(time.perf_counter() - started)
                assert resp.status_code == 207
        assert statistics.median(timings) < 0.1, timings
    finally:
        for sock in silent + slow:
            sock.close()


def test_a_10_mb_put_without_a_login_gets_401_before_its_body_over_tls(tls_server):
    wrong = base64.b64encode(f"{DEMO_USER}:wrong".encode()).decode()
    with tls_connection(tls_server) as sock:
        sock.sendall(
            b"PUT /anna_maier/calendar/big.ics HTTP/1.1\r\nHost: x\r\nContent-Type: text/calendar\r\n"
            + f"Authorization: Basic {wrong}\r\nContent-Length: 10000000\r\n\r\n".encode()
        )
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
        assert data.startswith(b"HTTP/1.1 401 ")
        assert b"\r\nConnection: close\r\n" in data


def test_plain_http_on_the_tls_port_gets_a_plain_400(tls_server):
    with socket.create_connection(("127.0.0.1", port_of(tls_server)), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400 ") and b"HTTPS" in data
