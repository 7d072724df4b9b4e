"""`python -m dashboard serve`: Flask's development server, for one person on one machine."""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument("--debug", action="store_true")
    parser.set_defaults(run=run)


def run(args) -> int:
    from dashboard.factory import create_app

    create_app().run(host=args.host, port=args.port, debug=args.debug)
    return 0
