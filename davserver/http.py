"""HTTP and XML plumbing shared by the CalDAV method handlers."""

from __future__ import annotations

from lxml import etree

from providers.properties import CALDAV, DAV, NSMAP

PRAXIS_NS = "urn:praxis-caldav"

# Entities, DTDs and network access off: a request body must never make us read files or URLs.
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_blank_text=True,
)


class CalDAVError(Exception):
    """An HTTP error with an optional RFC 4791/4918 precondition element and a one-line reason.

    The reason must never contain patient data: it is sent to the client and logged.
    """

    def __init__(
        self,
        status: int,
        condition: str | None = None,
        message: str = "",
        hrefs: tuple[str, ...] = (),
        headers: tuple[tuple[str, str], ...] = (),
    ):
        super().__init__(message or condition or str(status))
        self.status, self.condition, self.message = status, condition, message
        self.hrefs, self.headers = hrefs, headers


REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    207: "Multi-Status",
    301: "Moved Permanently",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    423: "Locked",
    500: "Internal Server Error",
    501: "Not Implemented",
    507: "Insufficient Storage",
}


def status_line(status: int) -> str:
    return f"{status} {REASONS.get(status, '')}".strip()


def parse_xml(body: bytes) -> etree._Element:
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise CalDAVError(400, message="XML with a document type declaration is not accepted")
    try:
        return etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError:
        raise CalDAVError(400, message="request body is not well-formed XML") from None


def request_xml(environ: dict) -> etree._Element:
    """The request body's XML, parsed once per request (the DOCTYPE check and the handler)."""
    root = environ.get("praxis.xml")
    if root is None:
        root = environ["praxis.xml"] = parse_xml(read_body(environ))
    return root


def serialize(el: etree._Element) -> bytes:
    return etree.tostring(el, xml_declaration=True, encoding="utf-8")


def respond(
    start_response,
    status: int,
    body: bytes = b"",
    content_type: str | None = None,
    headers: list[tuple[str, str]] | None = None,
):
    out = list(headers or [])
    if content_type:
        out.append(("Content-Type", content_type))
    out.append(("Content-Length", str(len(body))))
    start_response(status_line(status), out)
    return [body]


def respond_xml(
    start_response, status: int, el: etree._Element, headers: list[tuple[str, str]] | None = None
):
    return respond(start_response, status, serialize(el), "application/xml; charset=utf-8", headers)


def error_body(err: CalDAVError) -> bytes:
    if not err.condition and not err.message:
        return b""
    root = etree.Element(f"{{{DAV}}}error", nsmap={"D": DAV, "C": CALDAV, "P": PRAXIS_NS})
    if err.condition:
        cond = etree.SubElement(root, err.condition)
        for href in err.hrefs:
            etree.SubElement(cond, f"{{{DAV}}}href").text = href
    if err.message:
        etree.SubElement(root, f"{{{PRAXIS_NS}}}message").text = err.message
    return serialize(root)


def respond_error(start_response, err: CalDAVError):
    body = error_body(err)
    return respond(
        start_response,
        err.status,
        body,
        "application/xml; charset=utf-8" if body else None,
        list(err.headers),
    )


def multistatus() -> etree._Element:
    return etree.Element(f"{{{DAV}}}multistatus", nsmap=NSMAP)


def read_body(environ: dict) -> bytes:
    """The request body buffered by the body middleware."""
    return environ.get("praxis.body", b"")


def depth(environ: dict, default: str = "0") -> str:
    return (environ.get("HTTP_DEPTH") or default).strip().lower()
