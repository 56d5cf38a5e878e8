"""Which member of a calendar a request href names, however the client spelled it.

Clients send hrefs relative, path-absolute or as full URLs, percent-encoded or not, and a
user segment with `%20` or `_` and in any case. All spellings of one resource resolve to
its member name; an href into any other collection (another practitioner's calendar
included) resolves to None, which the reports answer with 404 and never with data.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urljoin, urlparse

from providers.practice.api import url_key
from providers.resources import CalendarCollection

# A last segment that no step below would change (no escapes, dots, separators or spaces).
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_~@:+!*'(),$|=&-][A-Za-z0-9._~@:+!*'(),$|=&-]*").fullmatch


def member_name(href: str, calendar: CalendarCollection) -> str | None:
    """The member name `href` points to inside `calendar`, or None."""
    base = calendar.href_for(calendar.path)  # the collection URL, ending in "/"
    href = href.strip()
    # The spelling clients send back from our own listings: the name is what follows.
    if href.startswith(base) and _PLAIN_NAME(href[len(base) :]):
        return href[len(base) :]
    path = unquote(urlparse(urljoin(base, href)).path)
    prefix = calendar.environ.get("praxis.prefix", "")
    if prefix:
        if not path.startswith(prefix + "/"):
            return None
        path = path[len(prefix) :]
    parts = path.split("/")
    if len(parts) != 4 or parts[0] or not all(parts[1:]):
        return None
    user, collection, name = parts[1:]
    own_user, own_collection = calendar.path.strip("/").split("/")
    if url_key(user) != url_key(own_user) or url_key(collection) != url_key(own_collection):
        return None
    return name
