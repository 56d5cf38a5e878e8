"""The `praxis-caldav` command line: one module per command group, `main` the entry point."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Entry point; imports the parser lazily so `davserver.cli.<command>` modules load alone."""
    from davserver.cli.main import main as run

    return run(argv)
