"""Back up and restore Lesion Lens: the database (PostgreSQL or SQLite), the image folder and the secrets.

    python deploy/backup.py backup --out /backups/lesionlens-$(date -u +%Y%m%dT%H%MZ)
    python deploy/backup.py verify --from /backups/lesionlens-20270101T0200Z
    python deploy/backup.py restore --from /backups/lesionlens-20270101T0200Z [--database-url URL] [--home DIR]

The deployment comes from the same environment as the app (DATABASE_URL,
LESIONLENS_HOME; the images are <home>/store). `backup` uses pg_dump when
DATABASE_URL is PostgreSQL and pg_dump is installed, SQLite's online backup
for SQLite, else a row-by-row copy (`--method sqlalchemy`, which also moves
a SQLite store to PostgreSQL). `restore` needs an empty database and an
empty image folder, checks every file against the manifest's sha256 and
reports rows per table and any case whose files do not match its row; it
exits with status 1 when anything differs. What the folder holds and why:
dashboard/backup/.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere


def parse(argv):
    parser = argparse.ArgumentParser(prog="python deploy/backup.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("backup", help="write a new backup folder")
    p.add_argument("--out", type=Path, required=True, help="a new (or empty) folder for this backup")
    p.add_argument("--method", choices=("auto", "pg_dump", "sqlite", "sqlalchemy"), default="auto")
    p.add_argument(
        "--no-secrets",
        action="store_true",
        help="leave secret_key and deid_salt out (keep them elsewhere: pseudonyms depend on them)",
    )
    p = sub.add_parser("verify", help="check a backup folder against its manifest")
    p.add_argument("--from", dest="source", type=Path, required=True)
    p = sub.add_parser("restore", help="restore into an empty database and an empty LESIONLENS_HOME/store")
    p.add_argument("--from", dest="source", type=Path, required=True)
    p.add_argument("--database-url", help="target database (default: DATABASE_URL, else SQLite under the home)")
    p.add_argument("--home", type=Path, help="target LESIONLENS_HOME (default: the environment's)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    from dashboard.backup import procedure
    from dashboard.backup.database import BackupError

    if args.command == "restore":
        if args.home:
            os.environ["LESIONLENS_HOME"] = str(args.home)
        if args.database_url:
            os.environ["DATABASE_URL"] = args.database_url
    try:
        if args.command == "verify":
            problems = procedure.verify(args.source)
            print("\n".join(problems) if problems else f"{args.source}: intact")
            return 1 if problems else 0
        if args.command == "restore":
            from dashboard.backup import files
            from pipeline.paths import home

            problems = procedure.verify(args.source)
            if problems:
                raise BackupError("the backup is damaged: " + "; ".join(problems))
            manifest = procedure.read_manifest(args.source)
            # the backup's secrets first: Settings would otherwise make a new session key in an empty home
            files.restore_secrets(args.source / "secrets", home(), manifest.get("secrets", {}))
            from dashboard.settings import Settings

            settings = Settings.from_env()
            report = procedure.restore(args.source, settings.database_url, settings.home, settings.files_dir)
            print(json.dumps({k: v for k, v in report.items() if k != "tables"}, indent=1))
            print(f"restored {report['cases']} case(s) of the backup made {manifest['created_utc']}")
            return 1 if report["tables_differing"] or report["cases_with_file_problems"] else 0
        from dashboard.settings import Settings

        settings = Settings.from_env()
        manifest = procedure.backup(
            settings.database_url,
            settings.home,
            settings.files_dir,
            args.out,
            method=args.method,
            secrets=not args.no_secrets,
        )
        part = manifest["database"]
        print(
            f"{args.out}: database by {part['method']} ({sum(part['tables'].values())} rows in "
            f"{len(part['tables'])} tables), {len(manifest['store']['files'])} image file(s), "
            f"secrets: {', '.join(manifest['secrets']) or 'none'}"
        )
        return 0
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
