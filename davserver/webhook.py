"""The optional webhook of the change feed: after a device changed something, POST
`{"event": "changes-available"}` to integration.webhook_url, signed with
`X-Praxis-Signature: sha256=<HMAC-SHA256 of the body with integration.webhook_secret>`.

Only a nudge: no appointment data goes out, the practice software then reads the feed (which
stays the source of truth). Pokes while a delivery is under way are coalesced into one more;
a failed delivery (no answer, or not 2xx) is retried with growing delays, then given up and
logged (the next change pokes again). One sender thread per server process.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Sequence

log = logging.getLogger("praxis_caldav.webhook")
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class Webhook:
    def __init__(
        self, url: str, secret: str, retry_delays: Sequence[float] = RETRY_DELAYS, timeout: float = 10
    ) -> None:
        self.url, self.secret = url, secret
        self.retry_delays, self.timeout = tuple(retry_delays), timeout
        self._poked = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def notify(self) -> None:
        """Devices changed something: deliver soon (never blocks the request)."""
        self._poked.set()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="webhook", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while self._poked.wait(timeout=60):
            self._poked.clear()
            self.deliver()

    def deliver(self) -> bool:
        """One notification, retried; True when the receiver answered 2xx."""
        body = json.dumps(
            {"event": "changes-available", "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        ).encode("utf-8")
        headers = {"Content-Type": "application/json", "X-Praxis-Signature": signature(self.secret, body)}
        for attempt, delay in enumerate((0.0, *self.retry_delays)):
            time.sleep(delay)
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                    if 200 <= answer.status < 300:
                        return True
            except OSError as exc:  # URLError and HTTPError (non-2xx) are OSErrors
                log.info("webhook attempt %d failed: %s", attempt + 1, type(exc).__name__)
        log.warning("webhook not delivered after %d attempts", len(self.retry_delays) + 1)
        return False
