"""The leak scanner must see through every encoding a name can hide behind, and stay quiet
on clean protocol traffic (else nobody will keep it switched on)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator

import pytest

from tests.leak_scanner import LeakScanner

SECRETS = ["Maria", "Muster", "Jürgen", "Öztürk", "Li", "Berg, Anna", "+43 664 1234567"]

CLEAN_ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//praxis-caldav//praxis-caldav 0.1//EN\r\n"
    "BEGIN:VEVENT\r\nUID:4f1c2a9e-1042@praxis\r\nDTSTAMP:20260314T101500Z\r\n"
    "DTSTART;TZID=Europe/Vienna:20260316T090000\r\nRRULE:FREQ=WEEKLY;BYDAY=MO,TH\r\n"
    "SUMMARY:MaMu 1042 – Kontrolle\\, Linie 3 nehmen\r\nDESCRIPTION:Befund mitbringen\\n"
    "Tel. Praxis 01 5551\r\n 234\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
CLEAN_XML = (
    '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:" '
    'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:response><D:href>/cal/ma/4f1c2a9e-1042.ics'
    '</D:href><D:propstat><D:prop><D:getetag>"17-pn"</D:getetag><C:calendar-data>'
    + CLEAN_ICS.replace("\r", "&#13;")
    + "</C:calendar-data></D:prop><D:status>HTTP/1.1 200 OK"
    '</D:status></D:propstat></D:response><D:li lang="de"/></D:multistatus>'
)


def _scanner() -> LeakScanner:
    return LeakScanner(SECRETS)


def _leaks(data: bytes | str, where: str = "test") -> list[str]:
    scanner = _scanner()
    scanner.record(data, where)
    return scanner.leaks()


def test_clean_protocol_traffic_passes() -> None:
    scanner = _scanner()
    scanner.record(CLEAN_ICS, "ics")
    scanner.record(CLEAN_XML, "xml")
    scanner.record('ETag: "17-pn"', "header")
    scanner.record("INFO davserver.http REPORT /cal/ma/ 207 in 12 ms", "log")
    scanner.assert_clean()


@pytest.mark.parametrize(
    ("data", "secret"),
    [
        ("SUMMARY:Termin Mar\r\n ia", 1),  # folded with a space
        ("SUMMARY:Termin Mus\r\n\tter", 2),  # folded with a tab
        ("DESCRIPTION:Berg\\, Anna anrufen", 6),  # iCalendar text escape
        ("DESCRIPTION:Berg\\,\\nAnna", 6),  # escaped comma and newline
        ("<summary>J&#252;rgen</summary>", 3),  # decimal character reference
        ("<summary>J&#xFC;rgen &amp; Co</summary>", 3),  # hex character reference
        ("<summary>J&uuml;rgen</summary>", 3),  # named entity
        ("<C:calendar-data>SUMMARY:J&#252;r\r\n gen</C:calendar-data>", 3),  # entity + folding
        ("Location: /cal/ma/J%C3%BCrgen.ics", 3),  # percent-encoded UTF-8
        ("/search?q=Berg%2C+Anna", 6),  # percent-encoding with + for space
        ("/cal/%D6zt%FCrk.ics", 4),  # percent-encoded Latin-1
        ("/cal/juergen-7.ics", 3),  # ASCII slug
        ("MUSTER", 2),  # case
        ("Mu\u00adster", 2),  # soft hyphen inside
        ('{"summary": "J\\u00fcrgen"}', 3),  # JSON escape
        ("Ma\u0301ria", 1),  # stray combining mark
        ("Ｍａｒｉａ", 1),  # fullwidth
        ("Li Wang kommt", 5),  # short name as a word
        ("<D:displayname>Li</D:displayname>", 5),  # short name as element text
    ],
)
def test_finds_hidden_names(data: str, secret: int) -> None:
    assert [f.split(" (")[0] for f in _leaks(data)] == [f"secret #{secret}"], data


def test_folding_inside_a_utf8_sequence() -> None:
    assert _leaks(b"SUMMARY:J\xc3\r\n \xbcrgen")


def test_latin1_body() -> None:
    assert _leaks("Jürgen".encode("latin-1"))


@pytest.mark.parametrize(
    "data",
    [
        "0664/123 45 67",
        "tel:+43-664-1234567",
        "0043 (0) 664 1234567",
        "Rückruf 1234567",
        "TEL;VALUE=uri:tel:%2B436641234567",
    ],
)
def test_finds_phone_numbers_in_any_format(data: str) -> None:
    assert _leaks(data), data


@pytest.mark.parametrize(
    "data",
    [
        "Linie 3",
        "<D:li/>",
        '<x li="1"/>',
        "Lie",
        "DTSTAMP:20260314T101500Z",
        "664 123",
        "0699 1234",
        "0664 99345",
    ],
)
def test_no_false_positives(data: str) -> None:
    assert not _leaks(data), data


def test_finding_names_place_but_not_the_secret() -> None:
    findings = _leaks("Jürgen Öztürk, +43 664 1234567", "response #1 body")
    assert len(findings) == 3
    assert "secret #3 (name J***) in response #1 body" in findings
    assert "secret #7 (phone ***67) in response #1 body" in findings
    for text in ("Jürgen", "Öztürk", "1234567", "ürgen"):
        assert all(text not in f for f in findings)
    assert "Jürgen" not in repr(_scanner())


def test_assert_clean_raises_with_findings() -> None:
    scanner = _scanner()
    scanner.record("Maria", "somewhere")
    with pytest.raises(AssertionError, match=r"secret #1 \(name M\*\*\*\) in somewhere"):
        scanner.assert_clean()


def _app(environ: dict, start_response) -> Iterator[bytes]:
    status, headers, body = environ["test.response"]
    write = start_response(status, headers)
    if environ.get("test.write"):
        write(environ["test.write"])
    return body


class _Closing:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks, self.closed = chunks, False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.closed = True


def _call(scanner: LeakScanner, response: tuple, **extra: bytes) -> bytes:
    app = scanner.wsgi(_app)
    seen: list = []
    result = app({"test.response": response, **extra}, lambda s, h, e=None: seen.append)
    try:
        return b"".join(result)
    finally:
        result.close()


def test_wsgi_records_headers() -> None:
    scanner = _scanner()
    body = _call(
        scanner,
        ("200 OK", [("Content-Disposition", "attachment; filename*=UTF-8''J%C3%BCrgen.ics")], [b"ok"]),
    )
    assert body == b"ok"
    assert scanner.leaks() == ["secret #3 (name J***) in response #1 header 'Content-Disposition'"]


def test_wsgi_records_status_line_and_body_across_chunks() -> None:
    scanner = _scanner()
    _call(scanner, ("200 OK", [], [b"SUMMARY:Ma", b"ria"]))
    _call(scanner, ("404 Muster not found", [], [b""]))
    assert scanner.leaks() == [
        "secret #1 (name M***) in response #1 body",
        "secret #2 (name M***) in response #2 status line",
    ]


def test_wsgi_records_write_callable_and_closes_inner_iterable() -> None:
    scanner = _scanner()
    inner = _Closing([b"!"])
    body = _call(scanner, ("200 OK", [], inner), **{"test.write": b"Hallo Li"})
    assert body == b"!" and inner.closed
    assert scanner.leaks() == ["secret #5 (name L***) in response #1 body"]


def test_wsgi_clean_response() -> None:
    scanner = _scanner()
    _call(
        scanner,
        (
            "207 Multi-Status",
            [("Content-Type", "application/xml; charset=utf-8"), ("ETag", '"17-pn"')],
            [CLEAN_XML.encode()],
        ),
    )
    scanner.assert_clean()


def test_log_lines_tracebacks_and_extras() -> None:
    scanner = _scanner()
    handler = scanner.log_handler()
    log = logging.getLogger("test.leak_scanner")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    try:
        log.debug("synced %s", "appointment 17")
        assert scanner.leaks() == []
        log.debug("patient %s", "Maria")
        try:
            raise ValueError("bad phone 0664 1234567")
        except ValueError:
            log.exception("import failed")
        log.info("saved", extra={"patient_name": "Öztürk"})
    finally:
        log.removeHandler(handler)
    assert scanner.leaks() == [
        "secret #1 (name M***) in log test.leak_scanner DEBUG",
        "secret #7 (phone ***67) in log test.leak_scanner ERROR",
        "secret #4 (name Ö***) in log test.leak_scanner INFO",
    ]


def test_rejects_phone_with_too_few_digits() -> None:
    with pytest.raises(ValueError, match="6 digits"):
        LeakScanner(["0664 1"])


@pytest.mark.parametrize(
    ("secrets", "data"),
    [
        (["Łukasz"], "SUMMARY:Lukasz"),  # transliterated letters
        (["Søren"], "SUMMARY:Soeren und Soren"),  # both spellings of ø
        (["Đoković"], "SUMMARY:Djokovic"),  # dj for đ
        (["小明"], "SUMMARY:Xiaoming"),  # a CJK name written in Latin letters
        (["小明"], "SUMMARY:王小明复诊"),  # spaceless script: a substring, never "short"
        (["Maria"], "ATTACH;ENCODING=BASE64;VALUE=BINARY:QmVmdW5kIE1hcmlhIE11c3Rlcg=="),  # base64
        (["Jürgen"], "X-ALT-DESC:<p>J&#xFC;rgen</p>"),  # HTML character references
    ],
)
def test_names_are_found_in_every_script_and_encoding(secrets, data) -> None:
    scanner = LeakScanner(secrets)
    scanner.record(data, "test")
    assert scanner.leaks() == ["secret #1 (name " + secrets[0][0] + "***) in test"]


def test_server_made_hex_identifiers_are_not_read_as_base64() -> None:
    """An object name or opaque UID in hex is random bytes as base64 (this one spells "zo"
    there); base64 text around or beside hex is still decoded."""
    name = "b8bcc9c620f6068ff3d4c6fabdf5ee1ab367092edce276706458a5f2f22f681c"
    scanner = LeakScanner(["Zoë", "Wu"])
    folded = f"UID:{name[:40]}\r\n {name[40:]}@praxis-caldav"  # a piece shorter than 32
    scanner.record(f"<D:href>/a/calendar/{name}.ics</D:href>{folded}", "hex")
    assert scanner.leaks() == []
    hidden = base64.b64encode(b"Termin Zoe Wu").decode()
    scanner.record(f"ATTACH:{hidden}{name[:32]}\r\nX-DATA:{name[:32]}{hidden}", "beside")
    assert scanner.leaks() == ["secret #1 (name Z***) in beside", "secret #2 (name W***) in beside"]
