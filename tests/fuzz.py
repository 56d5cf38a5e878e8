"""Hostile request bodies (hypothesis strategies) and the oracle every answer must pass.

Shared by the CI fuzz test (tests/test_fuzz.py, a short budget) and scripts/fuzz.py (long
runs). iCalendar is built from the properties, parameters and values that drive our code
paths — valid ones, values just beyond RFC 5545 and plain garbage — so most cases get past
the parser; XML bodies are trees over the DAV/CalDAV vocabulary with hostile attributes.
The oracle: never a 5xx, never an answer slower than MAX_SECONDS, and a refused write
leaves every stored row as it was.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from hypothesis import strategies as st

MAX_SECONDS = 2.0
D, C = "DAV:", "urn:ietf:params:xml:ns:caldav"

# ---------------------------------------------------------------- iCalendar

_DATES = st.sampled_from(
    [
        "20260310T100000",
        "20260310T100000Z",
        "20260310",
        "99991231T235959",
        "99991231",
        "00010101T000000",
        "18000101",
        "30000101T000000Z",
        "20260229T100000",
        "2026xx10T100000",
        "",
    ]
)
_RULES = st.sampled_from(
    [
        "FREQ=DAILY",
        "FREQ=DAILY;INTERVAL=0",
        "FREQ=DAILY;COUNT=5",
        "FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20270101T000000Z",
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=4;COUNT=2",
        "FREQ=YEARLY;BYWEEKNO=53;BYDAY=TH",
        "FREQ=MONTHLY;BYSETPOS=-1;BYDAY=MO,TU",
        "FREQ=HOURLY;COUNT=3",
        "FREQ=DAILY;COUNT=99999999999999999999",
        "FREQ=DAILY;INTERVAL=-1",
        "FREQ=YEARLY;BYMONTH=13",
        "FREQ=SOMETIMES",
        "FREQ=DAILY;UNTIL=99991231T000000Z",
        "FREQ=WEEKLY;WKST=XX",
        "",
    ]
)
_DURATIONS = st.sampled_from(["PT1H", "P99999999W", "-PT1H", "P1D", "PT0S", "P", "PT1H30M", "P2000Y"])
_TZIDS = st.one_of(
    st.sampled_from(["Europe/Vienna", "America/New_York", "UTC", "W. Europe Standard Time", "Mars/Olympus"]),
    st.text("ABCxyz/_-+ ", min_size=1, max_size=300),
)
_TEXT = st.text(max_size=60)
_PRINTABLE = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=60)
_PARAMS = st.lists(
    st.one_of(
        _TZIDS.map(lambda t: f"TZID={t}"),
        st.sampled_from(["VALUE=DATE", "VALUE=PERIOD", "VALUE=DATE-TIME", "RANGE=THISANDFUTURE", "X-P=1"]),
        st.text('ABC=;:",', max_size=10),
    ),
    max_size=2,
)


@st.composite
def _property(draw) -> str:
    name = draw(
        st.sampled_from(
            [
                "DTSTART",
                "DTEND",
                "DURATION",
                "RRULE",
                "EXDATE",
                "RDATE",
                "RECURRENCE-ID",
                "SUMMARY",
                "DESCRIPTION",
                "LOCATION",
                "UID",
                "STATUS",
                "TRANSP",
                "CATEGORIES",
                "X-FOO",
                "ATTENDEE",
                "SEQUENCE",
            ]
        )
    )
    if name in ("DTSTART", "DTEND", "EXDATE", "RDATE", "RECURRENCE-ID"):
        value = draw(st.one_of(_DATES, st.lists(_DATES, min_size=1, max_size=3).map(",".join)))
    elif name == "RRULE":
        value = draw(_RULES)
    elif name == "DURATION":
        value = draw(_DURATIONS)
    elif name == "UID":
        value = draw(st.sampled_from(["fuzz-1", "fuzz-2", "fuzz-3"]))
    elif name == "STATUS":
        value = draw(st.sampled_from(["CONFIRMED", "TENTATIVE", "CANCELLED", "nonsense"]))
    else:
        value = draw(_PRINTABLE if draw(st.integers(0, 3)) else _TEXT)
    params = "".join(f";{p}" for p in draw(_PARAMS))
    return f"{name}{params}:{value}"


@st.composite
def _component(draw, depth: int = 0) -> list[str]:
    name = draw(st.sampled_from(["VEVENT", "VEVENT", "VEVENT", "VALARM", "VTODO", "VTIMEZONE", "X-THING"]))
    lines = [f"BEGIN:{name}"]
    if name == "VEVENT" and draw(st.booleans()):
        lines += ["UID:fuzz-1", "DTSTART;TZID=Europe/Vienna:20260310T100000"]
    lines += draw(st.lists(_property(), max_size=8))
    if depth < 3 and draw(st.integers(0, 3)) == 0:
        lines += draw(_component(depth + 1))
    if draw(st.integers(0, 10)):
        lines.append(f"END:{name}")
    return lines


def nested(depth: int) -> str:
    """`depth` components, each inside the one before (content lines, CRLF)."""
    return "".join(f"BEGIN:X-N{i}\r\n" for i in range(depth)) + "".join(
        f"END:X-N{i}\r\n" for i in reversed(range(depth))
    )


@st.composite
def icalendar_body(draw, uid: str = "fuzz-1") -> bytes:
    """A VCALENDAR (or something close to one) as bytes; valid-looking ones carry `uid`."""
    kind = draw(st.integers(0, 20))
    if kind == 0:
        return draw(st.binary(max_size=300))
    if kind == 1:  # deep nesting
        inner = nested(draw(st.integers(5, 3000)))
        return (
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:fuzz-1\r\nDTSTART:20260310T100000Z\r\n"
            f"{inner}END:VEVENT\r\nEND:VCALENDAR\r\n"
        ).encode()
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//fuzz//EN"]
    if draw(st.integers(0, 8)) == 0:
        lines.append("METHOD:REQUEST")
    if kind > 8:  # a valid event with a few hostile additions: gets past the parser
        lines += ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260301T000000Z"]
        lines += ["DTSTART;TZID=Europe/Vienna:20260310T100000", "DTEND;TZID=Europe/Vienna:20260310T110000"]
        texts = st.tuples(
            st.sampled_from(["SUMMARY", "DESCRIPTION", "LOCATION", "CATEGORIES", "X-FOO"]), _TEXT
        )
        if draw(st.booleans()):  # texts only: mostly stored, so rendering gets fuzzed too
            lines += [
                f"{name}:{value}"
                for name, value in draw(st.lists(texts, max_size=3, unique_by=lambda t: t[0]))
            ]
        else:
            lines += draw(st.lists(_property(), max_size=3))
        if draw(st.booleans()):
            lines += [
                "BEGIN:VALARM",
                "ACTION:DISPLAY",
                f"DESCRIPTION:{draw(_TEXT)}",
                "TRIGGER:-PT5M",
                "END:VALARM",
            ]
        lines.append("END:VEVENT")
        if draw(st.integers(0, 3)) == 0:  # an override
            lines += ["BEGIN:VEVENT", f"UID:{uid}", "RECURRENCE-ID;TZID=Europe/Vienna:20260311T100000"]
            lines += ["DTSTART;TZID=Europe/Vienna:20260311T120000", *draw(st.lists(_property(), max_size=2))]
            lines.append("END:VEVENT")
    for _ in range(draw(st.integers(0 if kind > 8 else 1, 2))):
        lines += draw(_component())
    lines.append("END:VCALENDAR")
    text = "\r\n".join(lines) + "\r\n"
    encoding = "utf-16" if draw(st.integers(0, 19)) == 0 else "utf-8"
    return text.encode(encoding, "replace")


# ---------------------------------------------------------------- XML

_ELEMENTS = [
    (D, "propfind"),
    (D, "prop"),
    (D, "allprop"),
    (D, "propname"),
    (D, "include"),
    (D, "getetag"),
    (D, "displayname"),
    (D, "resourcetype"),
    (D, "sync-token"),
    (D, "sync-level"),
    (D, "limit"),
    (D, "nresults"),
    (D, "href"),
    (D, "propertyupdate"),
    (D, "set"),
    (D, "remove"),
    (D, "sync-collection"),
    (D, "expand-property"),
    (D, "property"),
    (C, "calendar-query"),
    (C, "calendar-multiget"),
    (C, "free-busy-query"),
    (C, "calendar-data"),
    (C, "filter"),
    (C, "comp-filter"),
    (C, "prop-filter"),
    (C, "param-filter"),
    (C, "text-match"),
    (C, "time-range"),
    (C, "is-not-defined"),
    (C, "expand"),
    (C, "limit-recurrence-set"),
    (C, "limit-freebusy-set"),
    (C, "comp"),
    (C, "allcomp"),
    (C, "allprop"),
    (C, "timezone"),
    (C, "calendar-timezone"),
    ("http://apple.com/ns/ical/", "calendar-color"),
    ("http://apple.com/ns/ical/", "calendar-order"),
    ("urn:x", "unknown"),
]
_ATTR_VALUES = st.one_of(
    st.sampled_from(
        [
            "VCALENDAR",
            "VEVENT",
            "VALARM",
            "VTODO",
            "SUMMARY",
            "UID",
            "DTSTART",
            "20260101T000000Z",
            "20270101T000000Z",
            "00010101T000000Z",
            "99991231T235959Z",
            "i;octet",
            "i;unknown",
            "yes",
            "no",
            "text/calendar",
            "2.0",
        ]
    ),
    st.text(max_size=12),
)
_ATTRS = ["name", "start", "end", "collation", "negate-condition", "content-type", "version", "novalue"]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


@st.composite
def _element(draw, depth: int = 0) -> str:
    ns, local = draw(st.sampled_from(_ELEMENTS))
    prefix = {D: "D", C: "C"}.get(ns, "X")
    attrs = "".join(
        f' {a}="{_escape(draw(_ATTR_VALUES))}"'
        for a in draw(st.lists(st.sampled_from(_ATTRS), max_size=3, unique=True))
    )
    children = draw(st.lists(_element(depth + 1), max_size=3)) if depth < 4 else []
    text = _escape(draw(st.one_of(st.just(""), _TEXT, st.sampled_from(["1", "0", "-1", "9" * 40]))))
    return f"<{prefix}:{local}{attrs}>{text}{''.join(children)}</{prefix}:{local}>"


@st.composite
def xml_body(draw, roots: list[tuple[str, str]]) -> bytes:
    """A document whose root is one of `roots` (or anything, now and then)."""
    ns, local = draw(st.sampled_from(roots)) if draw(st.integers(0, 9)) else draw(st.sampled_from(_ELEMENTS))
    prefix = {D: "D", C: "C"}.get(ns, "X")
    children = "".join(draw(st.lists(_element(1), max_size=4)))
    doc = (
        f'<?xml version="1.0" encoding="utf-8"?><{prefix}:{local} xmlns:D="DAV:" xmlns:C="{C}" '
        f'xmlns:A="http://apple.com/ns/ical/" xmlns:X="urn:x">{children}</{prefix}:{local}>'
    )
    if draw(st.integers(0, 15)) == 0:
        return doc[: draw(st.integers(0, len(doc)))].encode()  # cut short
    return doc.encode()


_PROPS = st.sampled_from(
    [
        "<D:getetag/>",
        "<D:displayname/>",
        "<D:resourcetype/>",
        "<D:getcontenttype/>",
        "<D:getlastmodified/>",
        "<D:sync-token/>",
        "<D:current-user-principal/>",
        "<C:calendar-data/>",
        "<C:calendar-home-set/>",
        "<C:supported-calendar-component-set/>",
        "<A:calendar-color/>",
        "<X:unknown/>",
    ]
)
_UTC = st.one_of(
    st.sampled_from(["20260101T000000Z", "20270101T000000Z", "00010101T000000Z", "99991231T235959Z"]),
    st.text("0123456789TZ", max_size=17),
)


@st.composite
def _calendar_data(draw) -> str:
    inner = draw(
        st.sampled_from(
            [
                "",
                '<C:expand start="{a}" end="{b}"/>',
                '<C:limit-recurrence-set start="{a}" end="{b}"/>',
                '<C:comp name="VCALENDAR"><C:prop name="VERSION"/><C:comp name="VEVENT">'
                '<C:prop name="SUMMARY" novalue="yes"/><C:prop name="DTSTART"/></C:comp></C:comp>',
            ]
        )
    )
    return f"<C:calendar-data>{inner.format(a=draw(_UTC), b=draw(_UTC))}</C:calendar-data>"


@st.composite
def _comp_filter(draw, name: str, depth: int = 0) -> str:
    parts = []
    if draw(st.booleans()):
        parts.append(f'<C:time-range start="{draw(_UTC)}" end="{draw(_UTC)}"/>')
    for _ in range(draw(st.integers(0, 2))):
        prop = draw(st.sampled_from(["SUMMARY", "UID", "STATUS", "DTSTART", "CATEGORIES", "X-FOO"]))
        test = draw(
            st.sampled_from(
                [
                    "",
                    "<C:is-not-defined/>",
                    '<C:text-match collation="i;ascii-casemap">{t}</C:text-match>',
                    '<C:text-match negate-condition="yes" collation="i;octet">{t}</C:text-match>',
                    '<C:param-filter name="TZID"><C:text-match>{t}</C:text-match></C:param-filter>',
                ]
            )
        )
        parts.append(f'<C:prop-filter name="{prop}">{test.format(t=_escape(draw(_TEXT)))}</C:prop-filter>')
    if depth < 2 and draw(st.booleans()):
        child = draw(st.sampled_from(["VEVENT", "VALARM", "VTODO", "VTIMEZONE", "X-A"]))
        parts.append(draw(_comp_filter(child, depth + 1)))
    return f'<C:comp-filter name="{name}">{"".join(parts)}</C:comp-filter>'


@st.composite
def structured_xml(draw, method: str) -> bytes:
    """A well-formed request of the usual shape with hostile values inside."""
    ns = f'xmlns:D="DAV:" xmlns:C="{C}" xmlns:A="http://apple.com/ns/ical/" xmlns:X="urn:x"'
    props = "".join(draw(st.lists(_PROPS, max_size=4)))
    if method == "PROPFIND":
        body = draw(st.sampled_from([f"<D:prop>{props}</D:prop>", "<D:allprop/>", "<D:propname/>", ""]))
        return f"<D:propfind {ns}>{body}</D:propfind>".encode()
    if method == "PROPPATCH":
        name = draw(st.sampled_from(["D:displayname", "A:calendar-color", "A:calendar-order", "X:unknown"]))
        value = _escape(draw(st.one_of(_TEXT, st.sampled_from(["#ff0000", "1", "9" * 40, "-5"]))))
        action = draw(st.sampled_from(["set", "remove"]))
        update = f"<D:{action}><D:prop><{name}>{value}</{name}></D:prop></D:{action}>"
        return f"<D:propertyupdate {ns}>{update}</D:propertyupdate>".encode()
    kind = draw(st.sampled_from(["query", "multiget", "sync", "free-busy"]))
    data = draw(_calendar_data()) if draw(st.booleans()) else ""
    if kind == "query":
        flt = draw(_comp_filter("VCALENDAR"))
        tz = "<C:timezone>BEGIN:VCALENDAR</C:timezone>" if draw(st.integers(0, 9)) == 0 else ""
        inner = f"<D:prop>{props}{data}</D:prop><C:filter>{flt}</C:filter>{tz}"
        return f"<C:calendar-query {ns}>{inner}</C:calendar-query>".encode()
    if kind == "multiget":
        hrefs = "".join(
            f"<D:href>{_escape(h)}</D:href>"
            for h in draw(st.lists(st.one_of(_TEXT, st.just("a.ics")), max_size=3))
        )
        return (
            f"<C:calendar-multiget {ns}><D:prop>{props}{data}</D:prop>{hrefs}</C:calendar-multiget>".encode()
        )
    if kind == "sync":
        token = _escape(
            draw(st.one_of(st.just(""), _TEXT, st.just("urn:praxis-caldav:sync:1:c:99999999999999999999")))
        )
        limit = (
            f"<D:limit><D:nresults>{draw(st.sampled_from(['1', '0', '9' * 30, 'x']))}</D:nresults></D:limit>"
        )
        limit = limit if draw(st.booleans()) else ""
        inner = f"<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>{limit}"
        return f"<D:sync-collection {ns}>{inner}<D:prop>{props}{data}</D:prop></D:sync-collection>".encode()
    time_range = f'<C:time-range start="{draw(_UTC)}" end="{draw(_UTC)}"/>'
    return f"<C:free-busy-query {ns}>{time_range}</C:free-busy-query>".encode()


REPORT_ROOTS = [
    (C, "calendar-query"),
    (C, "calendar-multiget"),
    (C, "free-busy-query"),
    (D, "sync-collection"),
    (D, "expand-property"),
]
PROPFIND_ROOTS = [(D, "propfind")]
PROPPATCH_ROOTS = [(D, "propertyupdate")]


@st.composite
def request_case(draw) -> tuple[str, str, bytes, dict]:
    """(method, path suffix below the calendar, body, headers)."""
    method = draw(st.sampled_from(["PUT", "PUT", "PROPFIND", "PROPPATCH", "REPORT", "REPORT"]))
    if method == "PUT":
        media = "text/xml" if draw(st.integers(0, 19)) == 0 else "text/calendar; charset=utf-8"
        headers = {"Content-Type": media}
        if draw(st.booleans()):
            headers["If-None-Match"] = "*"
        uid = draw(st.sampled_from(["fuzz-1", "fuzz-2", "fuzz-3"]))
        name = f"{uid}.ics" if draw(st.integers(0, 9)) else draw(st.sampled_from(["a.ics", "fuzz-1.ics"]))
        return method, name, draw(icalendar_body(uid)), headers
    roots = {"PROPFIND": PROPFIND_ROOTS, "PROPPATCH": PROPPATCH_ROOTS, "REPORT": REPORT_ROOTS}[method]
    headers = {"Content-Type": "application/xml", "Depth": draw(st.sampled_from(["0", "1", "infinity"]))}
    body = draw(structured_xml(method)) if draw(st.integers(0, 3)) else draw(xml_body(roots))
    return method, "", body, headers


# ---------------------------------------------------------------- oracle


@dataclass
class Findings:
    cases: int = 0
    problems: list[str] = field(default_factory=list)


def run_case(live, user, password: str, case: tuple, snapshot, findings: Findings) -> None:
    """Send one case; record (and assert) any broken expectation."""
    method, suffix, body, headers = case
    path = f"/{user.username.replace(' ', '_')}/calendar/{suffix}"
    before = snapshot(user) if method in ("PUT", "PROPPATCH") else None
    started = time.monotonic()
    r = live.request(method, path, body, user=user.username, password=password, headers=headers)
    seconds = time.monotonic() - started
    findings.cases += 1
    refused = r.status_code >= 400 or (method == "PROPPATCH" and b"HTTP/1.1 200" not in r.content)
    problems = []
    if r.status_code >= 500:
        problems.append(f"{method} answered {r.status_code}")
    if seconds > MAX_SECONDS:
        problems.append(f"{method} took {seconds:.1f} s")
    if before is not None and refused and snapshot(user) != before:
        problems.append(f"{method} refused with {r.status_code} but changed stored data")
    if problems:
        findings.problems.append(f"{'; '.join(problems)}: {method} {headers} {body[:4000]!r}")
        raise AssertionError(
            "; ".join(problems) + f"\n{method} {path} {headers}\n{body[:2000]!r}\n{r.text[:500]}"
        )
