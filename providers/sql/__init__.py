"""Database plumbing: opening a URL, schema migrations, prepared statements, the LISTEN/NOTIFY
practitioner cache, backup. ORM and driver internals belong here and nowhere above."""
