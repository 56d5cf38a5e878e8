"""Which member of a calendar a request href names, however the client spelled it.

Clients send hrefs relative, path-absolute or as full URLs, percent-encoded or not, and a
user segment with `%20` or `_` and in any case. All spellings of one resource resolve to
its member name; an href into any other collection (another practitioner's calendar
included) resolves to None, which the reports answer with 404 and never with data.
"""

from __future__ import annotations

from urllib.parse import unquote, urljoin, urlparse

from providers.practice_api import url_key
from providers.resources import CalendarCollection


def member_name(href: str, calendar: CalendarCollection) -> str | None:
    """The member name `href` points to inside `calendar`, or None."""
    base = calendar.href_for(calendar.path)  # the collection URL, ending in "/"
    path = unquote(urlparse(urljoin(base, href.strip())).path)
    prefix = calendar.environ.get("praxis.prefix", "")
    if prefix:
        if not path.startswith(prefix + "/"):
            return None
        path = path[len(prefix):]
    parts = path.split("/")
    if len(parts) != 4 or parts[0] or not all(parts[1:]):
        return None
    user, collection, name = parts[1:]
    own_user, own_collection = calendar.path.strip("/").split("/")
    if url_key(user) != url_key(own_user) or url_key(collection) != url_key(own_collection):
        return None
    return name
