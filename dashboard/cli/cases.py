"""`python -m dashboard delete-case ID…` and `python -m dashboard retention --older-than DAYS`.

    delete-case ID [ID …] [--yes]                         rows, image files and cached predictions; audited
    retention --older-than DAYS [--dataset NAME …]        lists the cases stored more than DAYS days ago
    retention --older-than DAYS [--dataset NAME …] --apply   … and deletes them

Why a CLI beside the Case page: erasure requests and retention rules are run
by hospital IT from cron or a ticket, not by clicking. Who may run them is
whoever can open the database (the service's OS account); the audit log
records them as `cli:<os user>`, like `users`. Retention is a dry run unless
`--apply` is given, so a typo in DAYS shows what it would do instead of
doing it. Output names cases by their pseudonymous id and datasets by name,
never by anything about the patient.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any


def add_delete_arguments(parser) -> None:
    parser.add_argument("case_ids", nargs="+", metavar="CASE_ID", help="pseudonymous case id(s), e.g. c1a2b3c4d5e6")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation (scripts)")
    parser.set_defaults(run=run_delete)


def add_retention_arguments(parser) -> None:
    parser.add_argument(
        "--older-than",
        type=float,
        required=True,
        metavar="DAYS",
        help="cases stored more than DAYS days ago (by the day they entered this store)",
    )
    parser.add_argument(
        "--dataset",
        action="append",
        default=[],
        metavar="NAME",
        help="only cases of this dataset (repeatable), e.g. 'upload' for the New case page's",
    )
    parser.add_argument("--apply", action="store_true", help="delete them (default: a dry run that only lists)")
    parser.add_argument("--list", action="store_true", help="print every matching case id")
    parser.set_defaults(run=run_retention)


@dataclass
class CliServices:
    """What `services.deletion` needs, without a web app: settings, store, cache, models."""

    settings: Any
    store: Any
    cache: Any
    models: Any


def build_services(settings=None) -> tuple[CliServices, Any]:
    """(services, auth) on the environment's database, cache and home, like the web workers use."""
    import flask

    from dashboard.auth import build_auth
    from dashboard.services.cache import CacheService
    from dashboard.services.registry import ModelRegistry
    from dashboard.settings import Settings
    from dashboard.store.cases import CaseStore

    settings = settings or Settings.from_env()
    store = CaseStore(settings.database_url, settings.files_dir, salt=settings.secret_key, schema=settings.schema_mode)
    cache = CacheService(settings, flask.Flask("lesionlens-cli"))
    auth = build_auth(settings, sessions=store.sessions, engine=store.engine)
    return CliServices(settings, store, cache, ModelRegistry(settings, store)), auth


def recorder(auth):
    from dashboard.cli.users import actor

    who = actor()

    def record(action: str, target: str | None, detail: dict) -> None:
        auth.audit.record(action, actor=who, target=target, detail={"via": "cli", **detail})

    return record


def _confirm(case_ids: list[str], stdin, out) -> bool:
    if not stdin.isatty():
        print("error: no terminal to confirm on: add --yes", file=sys.stderr)
        return False
    print(
        f"Delete {len(case_ids)} case(s) for good ({', '.join(case_ids[:5])}{' …' if len(case_ids) > 5 else ''})? "
        "Type 'delete' to confirm: ",
        end="",
        file=out,
        flush=True,
    )
    return stdin.readline().strip() == "delete"


def run_delete(args, services=None, auth=None, out=None, stdin=None) -> int:
    from dashboard.services.deletion import remove_case

    out, stdin = out or sys.stdout, stdin or sys.stdin
    if services is None or auth is None:
        services, auth = build_services()
    missing = [c for c in args.case_ids if services.store.get(c) is None]
    for case_id in missing:
        print(f"no case {case_id}", file=sys.stderr)
    present = [c for c in args.case_ids if c not in missing]
    if not present:
        return 1
    if not args.yes and not _confirm(present, stdin, out):
        print("nothing deleted", file=out)
        return 1
    record = recorder(auth)
    for case_id in present:
        deleted = remove_case(services, case_id, record, reason="admin")
        if deleted is None:
            print(f"no case {case_id} (deleted meanwhile)", file=out)
            continue
        print(
            f"deleted {case_id}: {deleted.predictions} prediction(s), {deleted.reviews} review(s), "
            f"{deleted.files} file(s), {deleted.bytes / 1e6:.2f} MB",
            file=out,
        )
    return 1 if missing else 0


def run_retention(args, services=None, auth=None, out=None) -> int:
    from dashboard.services.deletion import run_retention as retention

    out = out or sys.stdout
    if not args.older_than >= 0:
        print("error: --older-than must be zero or more days", file=sys.stderr)
        return 2
    if services is None or auth is None:
        services, auth = build_services()
    report = retention(services, args.older_than, recorder(auth), datasets=args.dataset, apply=args.apply)
    scope = f" of dataset(s) {', '.join(report.datasets)}" if report.datasets else ""
    print(f"{len(report.candidates)} case(s){scope} stored more than {args.older_than:g} day(s) ago", file=out)
    if args.list:
        for case_id in report.candidates:
            print(case_id, file=out)
    if args.apply:
        print(f"deleted {report.deleted} case(s), {report.bytes / 1e6:.2f} MB", file=out)
    else:
        print("dry run: nothing deleted (add --apply to delete them)", file=out)
    return 0
