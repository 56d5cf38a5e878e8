"""Privacy policy on write: import keys, patient numbers, and who may loosen a practitioner's
privacy settings (issue 15, items 4 and 6)."""

from __future__ import annotations

import datetime as dt

import pytest

from davserver.ical.render import render_appointment
from davserver.ical.representation import policy_for
from providers.practice import api, store
from providers.practice.importer import ImportError_, import_data
from tests.two_way import new_practitioner


def _data(practitioner: dict | None = None, patients: list | None = None) -> dict:
    return {
        "practice": {"id": "pol-practice", "name": "Praxis Policy"},
        "practitioners": [
            {"id": "pol-1", "username": "paula policy", "password": "pw-paula", **(practitioner or {})}
        ],
        "patients": patients or [],
    }


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            {"pseudonymise": True},
            "practitioners[0]: unknown key 'pseudonymise'; did you mean 'pseudonymize'?",
        ),
        ({"include_phones": False}, "did you mean 'include_phone'?"),
        ({"colour": "red"}, "practitioners[0]: unknown key 'colour'"),
    ],
)
def test_import_refuses_unknown_keys_naming_the_nearest(live, record, message) -> None:
    with pytest.raises(ImportError_) as error:
        import_data(_data(record))
    assert message in str(error.value) and "\n" not in str(error.value)
    assert api.find_practitioner("paula policy") is None  # all or nothing


def test_import_refuses_unknown_keys_at_every_level(live) -> None:
    data = _data()
    data["patients"] = [{"id": "x", "patient_number": "1", "firstname": "A"}]
    with pytest.raises(
        ImportError_, match=r"patients\[0\]: unknown key 'firstname'; did you mean 'first_name'"
    ):
        import_data(data)
    with pytest.raises(ImportError_, match="top level: unknown key 'patient'; did you mean 'patients'"):
        import_data({**_data(), "patient": []})


@pytest.mark.parametrize("variant", [" 1042", "1042\u00a0", "1042\u200b", "１０４２"])
def test_patient_numbers_are_normalised_and_collisions_refused(live, variant) -> None:
    patients = [
        {"id": "pn-1", "patient_number": "1042", "first_name": "Maria", "last_name": "Muster"},
        {"id": "pn-2", "patient_number": variant, "first_name": "Maria", "last_name": "Muster"},
    ]
    with pytest.raises(ImportError_) as error:
        import_data(_data(patients=patients))
    message = str(error.value)
    assert "'pn-2'" in message and "'pn-1'" in message and "\n" not in message
    assert "Maria" not in message and "Muster" not in message


def test_a_normalised_number_is_stored_and_shown_once(live) -> None:
    user = new_practitioner("numbers")
    patient = api.upsert_patient(user.practice, "\u200b 1042\u00a0", "Maria", "Muster", None, "num-1")
    assert patient.patient_number == "1042"


def test_a_practitioner_may_tighten_but_not_loosen_unless_the_admin_allows(live) -> None:
    user = new_practitioner("policy", include_phone=True)
    api.update_own_settings(user, pseudonymize=True, include_phone=False)  # stricter: fine
    with pytest.raises(api.PolicyError):
        api.update_own_settings(user, pseudonymize=False)
    with pytest.raises(api.PolicyError):
        api.update_own_settings(user, include_phone=True)
    with pytest.raises(api.PolicyError):
        api.update_own_settings(user, may_relax=True)
    assert (user.pseudonymize, user.include_phone) == (True, False)
    api.update_practitioner(user, may_relax=True)  # the admin (CLI, import, admin page)
    api.update_own_settings(user, pseudonymize=False, include_phone=True)
    assert (user.pseudonymize, user.include_phone) == (False, True)


def test_a_renamed_patient_republishes_and_is_masked_everywhere(live) -> None:
    user = new_practitioner("rename", pseudonymize=True)
    api.upsert_patient(user.practice, "1", "Gerda", "Holzer", None, "rn-1")
    appt = api.create_appointment(
        user,
        api.AppointmentFields(
            dt.datetime(2026, 12, 1, 9),
            dt.datetime(2026, 12, 1, 10),
            subject="Anruf Hildegard",
        ),
    )
    before = store.load_one(user.id, appt.resource_name).revision
    api.upsert_patient(user.practice, "1", "Hildegard", "Holzer", None, "rn-1")
    row = store.load_one(user.id, appt.resource_name)
    assert row.revision > before
    owner = api.find_practitioner(user.username)
    assert b"Hildegard" not in render_appointment(row, policy_for(owner, owner))


def test_the_admin_allows_loosening_from_the_command_line(live) -> None:
    from tests.test_delegation import cli

    user = new_practitioner("cli-relax", pseudonymize=True)
    result = cli(live.db_url, "settings", user.username, "--may-relax", "on")
    assert result.returncode == 0, result.stderr
    assert "may-relax=on" in result.stdout
    api.update_own_settings(api.find_practitioner(user.username), pseudonymize=False)
    assert cli(live.db_url, "settings", user.username, "--may-relax", "off").returncode == 0
    assert api.find_practitioner(user.username).may_relax is False
