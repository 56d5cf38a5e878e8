"""The iCalendar representation the DAV resources serve (providers.service_settings.Representation):
each viewer's render policy, the rendering, and the ETag."""

from __future__ import annotations

from dataclasses import dataclass

from davserver.ical import device_form
from davserver.ical.render import RenderPolicy, etag_for, practice_matcher
from providers.practice.records import Appointment, Practitioner


@dataclass(frozen=True)
class ICalendarRepresentation:
    """Renders with davserver.ical.render, or serves a device's own upload as sent."""

    renders_only_marked_or_uploads: bool = True

    def policy(self, owner: Practitioner, viewer: Practitioner) -> RenderPolicy:
        return policy_for(owner, viewer)

    def render(self, appointment: Appointment, policy: RenderPolicy) -> bytes:
        return device_form.render_for_view(appointment, policy)

    def etag(self, revision: int, policy: RenderPolicy) -> str:
        return etag_for(revision, policy)


def policy_for(owner: Practitioner, viewer: Practitioner) -> RenderPolicy:
    """Own calendar: the owner's settings; delegated: the stricter of owner's and viewer's.

    A pseudonymized policy carries the practice's name matcher, built once per version of
    the practice's patient names (the practice row is cached with the practitioner)."""
    policy = RenderPolicy(owner.pseudonymize, owner.include_phone)
    if viewer.id != owner.id:
        policy = policy.stricter(RenderPolicy(viewer.pseudonymize, viewer.include_phone, delegated=True))
    if not policy.pseudonymize:
        return policy
    practice = owner.practice
    names = practice_matcher(practice.id, practice.names_version)
    return RenderPolicy(
        policy.pseudonymize, policy.include_phone, practice.names_version, names, delegated=policy.delegated
    )
