"""Which fields of an appointment a device may change, per view: the one table.

A device can only mean to change what it was shown. A clear view showed the real texts, so
the device's texts replace them (never with a part masking put in: a pseudonym, "…" for a
hidden phone number). A pseudonymized view shows the subject masked, no notes and at most
the name of the practice's location row (render.py, privacy_allowlist.py): its subject is
taken only when it refers to no patient at all, its notes and location never. Times,
status, recurrence and what only devices hold (alarms, categories, unknown properties) are
the device's in every writable view; the patient link, the patient's data and the
practice's location rows never are.

ical_parse applies the rules when it maps an upload onto a row; the data API separately
refuses any pseudonym in any text field (providers/practice/patient_mentions.py).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from davserver.ical.render import RenderPolicy


class TextRule(enum.Enum):
    """How a device text (SUMMARY after the patient label, DESCRIPTION, LOCATION) is taken."""

    # The view showed the real text: taken as sent, unless it holds a pseudonym or a mask.
    AS_SENT = "as sent"
    # The view showed masked text: taken only when it holds no pseudonym and no patient name.
    CLEAN_ONLY = "clean only"
    # The view does not show the practice's text: a device never changes it.
    PRACTICE_ONLY = "practice only"


# Applied as the device sent them, in every writable view.
DEVICE_OWNED = frozenset(
    {"times", "recurrence", "status", "alarms", "categories", "unknown properties", "deletion"}
)
# Never changed by any device.
PRACTICE_OWNED = frozenset({"patient link", "patient data", "location rows"})


@dataclass(frozen=True)
class Ownership:
    """What one kind of view lets a device change."""

    view: str
    subject: TextRule
    notes: TextRule
    location: TextRule
    # A SUMMARY, DESCRIPTION or LOCATION the view showed and the device left out clears the
    # field. A field the view did not show is never cleared by a missing property.
    missing_clears: bool
    device_owned: frozenset[str] = DEVICE_OWNED
    practice_owned: frozenset[str] = PRACTICE_OWNED


_CLEAR = dict(
    subject=TextRule.AS_SENT, notes=TextRule.AS_SENT, location=TextRule.AS_SENT, missing_clears=True
)
_MASKED = dict(
    subject=TextRule.CLEAN_ONLY,
    notes=TextRule.PRACTICE_ONLY,
    location=TextRule.PRACTICE_ONLY,
    missing_clears=False,
)
OWN_CLEAR = Ownership("own calendar, clear names", **_CLEAR)
OWN_PSEUDONYMIZED = Ownership("own calendar, pseudonymized", **_MASKED)
DELEGATED_CLEAR = Ownership("delegated read-write, clear names", **_CLEAR)
# A delegated calendar is pseudonymized when either side asks for it (the stricter policy).
DELEGATED_STRICTER = Ownership("delegated read-write, pseudonymized", **_MASKED)

VIEWS: dict[tuple[bool, bool], Ownership] = {
    # (delegated, pseudonymized) -> rules
    (False, False): OWN_CLEAR,
    (False, True): OWN_PSEUDONYMIZED,
    (True, False): DELEGATED_CLEAR,
    (True, True): DELEGATED_STRICTER,
}


def ownership(policy: RenderPolicy, delegated: bool = False) -> Ownership:
    """The rules for a device writing through a view with this render policy."""
    return VIEWS[(delegated, policy.pseudonymize)]
