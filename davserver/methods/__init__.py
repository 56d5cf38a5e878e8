"""CalDAV method handlers, one module per method (Radicale's layout).

PROPFIND, PROPPATCH, GET and HEAD are left to wsgidav's request server; everything a
calendar server must answer differently from a file server is handled here.
"""

from __future__ import annotations

from davserver.methods import delete, options, propfind, put, refuse, report

HANDLERS = {
    "OPTIONS": options.handle,
    # Depth 1 on a calendar only; it returns None for everything else (then wsgidav's).
    "PROPFIND": propfind.handle,
    "REPORT": report.handle,
    "PUT": put.handle,
    "DELETE": delete.handle,
    **{m: refuse.handle for m in refuse.REFUSED},
}
