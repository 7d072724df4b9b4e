"""`python -m dashboard <command>`: `import` a dataset into the case store, `ensure-admin`, `serve`, `users`,
`delete-case`, `retention`.

Commands live in dashboard/cli/ and are imported on demand, so `--help` is fast.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pipeline.errors import run_command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboard", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    from dashboard.cli import cases, ensure_admin, import_cases, serve, users

    import_cases.add_arguments(sub.add_parser("import", help="load a dataset, predict, store for review"))
    serve.add_arguments(sub.add_parser("serve", help="run the development server (use gunicorn in production)"))
    ensure_admin.add_arguments(sub.add_parser("ensure-admin", help="migrate the store, record the active model, "
                                                                   "create the first admin if there is none"))
    users.add_arguments(sub.add_parser("users", help="accounts and API tokens (add, remove, set-role, "
                                                     "reset-password, unlock, list, token)"))
    cases.add_delete_arguments(sub.add_parser("delete-case", help="delete case(s): rows, image files, cached "
                                                                  "predictions (audited)"))
    cases.add_retention_arguments(sub.add_parser("retention", help="list (default) or --apply delete the cases "
                                                                   "stored more than --older-than DAYS ago"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_command(args.run, args)


if __name__ == "__main__":
    sys.exit(main())
