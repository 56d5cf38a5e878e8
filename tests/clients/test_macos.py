"""macOS Calendar: "Add Account > Other CalDAV Account", account type "Advanced".

The practitioner types server address, server path, port and "Use SSL" separately, exactly as
`praxis-caldav urls` prints them; no part of a URL has to be cut out by hand. Over TLS the
server runs on a free port with a certificate from `praxis-caldav cert`.
"""

from __future__ import annotations

import pytest

from tests.clients import apple
from tests.clients.replay import (
    MAC_HOST,
    MAC_PATH,
    MAC_PORT,
    MAC_SSL,
    PREFIX,
    USER_NAME,
    device_event,
    local,
    multistatus,
    new_uid,
    practice_creates,
    summary_of,
)


def typed_url(urls: dict[str, str], path: str | None = None) -> tuple[str, str]:
    """(origin, URL) macOS builds from the four Advanced fields."""
    scheme = "https" if urls[MAC_SSL] == "yes" else "http"
    origin = f"{scheme}://{urls[MAC_HOST]}:{urls[MAC_PORT]}"
    return origin, origin + (path if path is not None else urls[MAC_PATH])


@pytest.fixture(scope="module")
def account(deployment):
    urls = deployment.urls()
    device = deployment.device(urls[USER_NAME], user_agent="macOS/14.4 (23E214) CalendarAgent/988")
    acc = apple.AppleAccount(device)
    yield acc, urls
    device.close()


def test_anna_maier_sets_up_macos_advanced_from_the_urls_output_alone(deployment, account):
    acc, urls = account
    d = acc.device
    assert urls[MAC_SSL] == ("yes" if deployment.kind == "tls" else "no")
    assert urls[MAC_PORT].isdigit() and ":" not in urls[MAC_HOST] and "/" not in urls[MAC_HOST]
    origin, url = typed_url(urls)
    # Apple probes the host root and the well-known URL even when given a path; a 405 on
    # either breaks setup. (Behind the prefix proxy "/" belongs to the web site: 404 is fine.)
    root = d.propfind(origin + "/", "0", apple.DISCOVERY)
    assert root.status_code == (404 if deployment.kind == "proxy" else 207), d.conversation()
    assert acc.find_principal(origin + "/.well-known/caldav")

    acc.principal = acc.find_principal(url)
    expected = (PREFIX if deployment.kind == "proxy" else "") + "/anna_maier/"
    assert acc.principal == expected == urls[MAC_PATH], d.conversation()
    acc.load_principal()
    acc.list_home()
    acc.set_colour_and_order("#1BADF8FF", 1)
    assert acc.poll()
    changed, _ = acc.sync()
    assert len(changed) == 5

    # A device-side appointment, then a practice-side one, each seen by the next sync.
    uid = new_uid()
    href = f"{acc.calendar}{uid}.ics"
    resp = d.put(
        href, device_event(uid, "Intervision", local(4, 8), prodid="-//Apple Inc.//macOS 14.4//EN"), new=True
    )
    assert resp.status_code == 201
    assert acc.poll() and acc.sync()[0] == {href}
    practice_creates("Kontrolle (Praxis)", days=5)
    assert acc.poll()
    (new,) = acc.sync()[0]
    assert summary_of(acc.data[new]) == "Kontrolle (Praxis)"
    resp = d.delete(href, etag=acc.etags[href])
    assert resp.status_code == 204
    assert acc.poll() and acc.sync() == (set(), {href})


@pytest.mark.parametrize(
    "spelling", ["as printed", "no trailing slash", "space as %20", "upper case", "the DAV root"]
)
def test_macos_server_path_spellings_all_find_the_principal(deployment, account, spelling):
    """What a practitioner may type into "Server path": each one finds the same account."""
    acc, urls = account
    path = urls[MAC_PATH]
    variants = {
        "as printed": path,
        "no trailing slash": path.rstrip("/"),
        "space as %20": path.replace("_", "%20"),
        "upper case": path.replace("anna_maier", "Anna_Maier"),
        "the DAV root": path.removesuffix("anna_maier/"),
    }
    _, url = typed_url(urls, variants[spelling])
    principal = acc.find_principal(url)
    assert principal == urls[MAC_PATH]
    home = multistatus(acc.device.propfind(principal, "0", apple.PRINCIPAL))[principal]
    assert home.hrefs("{urn:ietf:params:xml:ns:caldav}calendar-home-set") == [principal]
