"""A read retried after its database connection died keeps its body: the body is read after
the login, behind the error layer that retries, so the retry must hand it on again
(errors.ErrorMiddleware with middleware.request_body.install_body). PostgreSQL only: the
server's connections are killed with pg_terminate_backend."""

from __future__ import annotations

import logging

import pytest
import requests

from davserver import methods
from providers.sql import practitioner_cache
from tests.conftest import DEMO_PASSWORD, DEMO_USER, make_database_url, start_server
from tests.test_db_resilience import _terminate_server_connections

CALENDAR = "/anna_maier/calendar/"
DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"


@pytest.fixture
def pg_url(tmp_path_factory, postgres_available):
    yield from make_database_url("postgresql", tmp_path_factory, postgres_available)


def multiget(hrefs: list[str]) -> str:
    refs = "".join(f"<D:href>{h}</D:href>" for h in hrefs)
    return (
        f'<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget xmlns:D="{DAV}" xmlns:C="{CALDAV}">'
        f"<D:prop><D:getetag/><C:calendar-data/></D:prop>{refs}</C:calendar-multiget>"
    )


def test_a_retried_report_is_answered_from_its_body(pg_url, caplog, monkeypatch):
    live = start_server(pg_url)
    try:
        with requests.Session() as s:
            s.auth = (DEMO_USER, DEMO_PASSWORD)
            listing = s.request("PROPFIND", live.url(CALENDAR), headers={"Depth": "1"}, timeout=20)
            hrefs = sorted(
                set(
                    h.split("</", 1)[0]
                    for h in listing.text.split("href>")[1::2]
                    if h.split("</", 1)[0].endswith(".ics")
                )
            )[:5]
            assert len(hrefs) == 5, listing.text[:500]
            body = multiget(hrefs)

            def report() -> requests.Response:
                headers = {"Depth": "1", "Content-Type": "application/xml"}
                return s.request("REPORT", live.url(CALENDAR), data=body, headers=headers, timeout=20)

            expected = report()
            assert expected.status_code == 207 and expected.text.count("<D:response>") == 5
            caplog.set_level(logging.WARNING, logger="praxis_caldav.errors")
            for _ in range(3):
                # Killed before the login: the retry happens before the body is read.
                assert _terminate_server_connections(pg_url) > 0
                resp = report()
                assert resp.status_code == 207, resp.text[:300]
                assert resp.text == expected.text  # the same five objects, from the same body
            # Killed after the login, once the body is read: the retry must get the body again.
            real = methods.HANDLERS["REPORT"]
            kills = []

            def killing_once(environ, start_response, provider):
                if not kills:
                    kills.append(_terminate_server_connections(pg_url))
                return real(environ, start_response, provider)

            monkeypatch.setitem(methods.HANDLERS, "REPORT", killing_once)
            resp = report()
            assert kills and kills[0] > 0
            assert resp.status_code == 207, resp.text[:300]
            assert resp.text == expected.text
        assert any("retried" in r.getMessage() for r in caplog.records), "no request was retried"
    finally:
        live.server.stop()
        practitioner_cache.disable()
