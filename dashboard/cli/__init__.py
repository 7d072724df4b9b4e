"""Command-line entry points of the dashboard (see `python -m dashboard --help`)."""
