"""What an import did (or, in a dry run, would do): counts per record type and per practitioner.

Only counts and external ids: the summary goes to the console and cron mails, never patient data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RECORD_TYPES = ("practitioners", "patients", "locations", "appointments")
OUTCOMES = ("created", "updated", "unchanged", "cancelled")


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    cancelled: int = 0

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def __str__(self) -> str:
        return ", ".join(f"{getattr(self, o)} {o}" for o in OUTCOMES)


@dataclass
class ImportSummary:
    by_type: dict[str, Counts] = field(default_factory=lambda: {t: Counts() for t in RECORD_TYPES})
    # Appointments per practitioner, keyed by the practitioner's external id.
    by_practitioner: dict[str, Counts] = field(default_factory=dict)
    dry_run: bool = False

    def count(self, record_type: str, outcome: str, practitioner: str | None = None) -> None:
        self.by_type[record_type].add(outcome)
        if practitioner is not None:
            self.by_practitioner.setdefault(practitioner, Counts()).add(outcome)

    def _total(self, outcome: str) -> int:
        return sum(getattr(c, outcome) for c in self.by_type.values())

    @property
    def created(self) -> int:
        return self._total("created")

    @property
    def updated(self) -> int:
        return self._total("updated")

    @property
    def unchanged(self) -> int:
        return self._total("unchanged")

    @property
    def cancelled(self) -> int:
        return self._total("cancelled")

    def __str__(self) -> str:
        return ", ".join(f"{self._total(o)} {o}" for o in OUTCOMES)

    def lines(self) -> list[str]:
        """The closing report: one line per record type, then one per practitioner."""
        out = [f"  {t}: {c}" for t, c in self.by_type.items()]
        out += [f"  appointments of practitioner {p}: {c}" for p, c in sorted(self.by_practitioner.items())]
        return out
