"""What the data API refuses with: one-line messages, free of patient data."""

from __future__ import annotations

from providers.practice import validation


class DataError(ValueError):
    """Input the practice data cannot take; the message is one line, free of patient data."""


class PolicyError(DataError):
    """A practitioner tried to loosen a privacy setting the admin has not let them loosen."""


class ConflictError(DataError):
    """The row changed since the caller read it (a stale If-Match)."""


class AlreadyStored(DataError):
    """A new appointment's resource name or UID is taken by a row of the same practitioner
    (a concurrent create won): PUT decides between 412, a UID conflict and a retry; the
    import reports it like any refused record."""


def _valid(check, *args) -> None:
    """Run a providers.practice.validation check; its refusal is a DataError like every other."""
    try:
        check(*args)
    except validation.InvalidValue as exc:
        raise DataError(str(exc)) from None
