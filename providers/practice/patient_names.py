"""The patient names of a practice as the practice-wide name matcher reads them, and the
version that tells a process when to build its matcher again (providers/practice/masking.py)."""

from __future__ import annotations

from providers.practice.models import Patient, Practice


def people(practice_id: int) -> list[tuple[str, str, str]]:
    """(first name, last name, patient number) of every patient of a practice: the input of the
    practice-wide name matcher, read once per version of the practice's names."""
    return list(
        Patient.select(Patient.first_name, Patient.last_name, Patient.patient_number)
        .where(Patient.practice == practice_id)
        .tuples()
    )


def version(practice_id: int) -> int:
    """The practice's names version, for a caller without the (cached) practice row."""
    return Practice.select(Practice.names_version).where(Practice.id == practice_id).scalar() or 0
