"""The practice domain: models, the data API (the only writer), series, import, logins, privacy rules.

Pseudonyms and masking live here, not in davserver/ical/: the data API refuses a pseudonym in any
stored text, so the domain needs them, and providers never import davserver."""
