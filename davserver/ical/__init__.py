"""The iCalendar representation: rendering rows for a view, parsing device uploads, the device's own
form, field ownership, the privacy allowlist, calendar-query filters, calendar-data, time zones."""
