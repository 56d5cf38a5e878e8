"""Which fields of an appointment a device may change, per view: the one table.

A device can only mean to change what it was shown. A clear view showed the real texts, so
the device's texts replace them; a pseudonymized view showed masks, so its texts are taken
only when they refer to no patient at all (the mask itself, a pseudonym or a name would
otherwise become practice data). Times, status, recurrence and what only devices hold
(alarms, categories, unknown properties) are the device's in every writable view; the patient
link, the patient's data and the practice's location rows never are.

ical_parse applies the rules when it maps an upload onto a row; the data API separately
refuses any pseudonym in any text field (providers/patient_mentions.py).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from davserver.render import RenderPolicy


class TextRule(enum.Enum):
    """How a device text (SUMMARY after the patient label, DESCRIPTION, LOCATION) is taken."""

    # The view showed the real text: taken as sent, unless it holds a pseudonym.
    AS_SENT = "as sent"
    # The view showed masked text: taken only when it holds no pseudonym and no patient name.
    CLEAN_ONLY = "clean only"


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
    texts: TextRule
    # A DESCRIPTION or LOCATION the view showed and the device left out clears the field.
    # A field the view did not show is never cleared by a missing property.
    missing_clears: bool
    device_owned: frozenset[str] = DEVICE_OWNED
    practice_owned: frozenset[str] = PRACTICE_OWNED


OWN_CLEAR = Ownership("own calendar, clear names", TextRule.AS_SENT, missing_clears=True)
OWN_PSEUDONYMIZED = Ownership("own calendar, pseudonymized", TextRule.CLEAN_ONLY, missing_clears=False)
DELEGATED_CLEAR = Ownership("delegated read-write, clear names", TextRule.AS_SENT, missing_clears=True)
# A delegated calendar is pseudonymized when either side asks for it (the stricter policy).
DELEGATED_STRICTER = Ownership(
    "delegated read-write, pseudonymized", TextRule.CLEAN_ONLY, missing_clears=False
)

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
