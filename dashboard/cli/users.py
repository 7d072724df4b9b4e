"""`python -m dashboard users …`: accounts and API tokens from the command line.

    users add NAME --role viewer|clinician|admin   (password: prompt, --password-stdin or --generate)
    users remove NAME                              (deactivates; sessions and tokens revoked)
    users set-role NAME ROLE
    users reset-password NAME                      (prompt, --password-stdin or --generate; ends sessions)
    users unlock NAME                              (clears the sign-in back-off)
    users list
    users token create NAME [--label TEXT]         (prints the token once; only its hash is stored)
    users token list NAME
    users token revoke NAME (TOKEN_ID | --all)

Passwords are never taken from argv (shell history, `ps`): they come from an
interactive prompt, from stdin with --password-stdin, or are generated and
printed once with --generate. Every change is written to the audit log as
`cli:<os user>`.
"""

from __future__ import annotations

import getpass
import os
import sys

from dashboard.auth.roles import ROLES


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="users_command", required=True, metavar="COMMAND")

    def password_options(p):
        group = p.add_mutually_exclusive_group()
        group.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
        group.add_argument("--generate", action="store_true", help="generate a random password and print it once")

    p = sub.add_parser("add", help="create an account")
    p.add_argument("username")
    p.add_argument("--role", choices=ROLES, required=True)
    password_options(p)
    p = sub.add_parser("remove", help="deactivate an account (its name stays reserved for the audit log)")
    p.add_argument("username")
    p = sub.add_parser("set-role", help="change an account's role")
    p.add_argument("username")
    p.add_argument("role", choices=ROLES)
    p = sub.add_parser("reset-password", help="set a new password (ends the user's sessions)")
    p.add_argument("username")
    password_options(p)
    p = sub.add_parser("unlock", help="clear the sign-in back-off of an account")
    p.add_argument("username")
    sub.add_parser("list", help="list accounts")
    token = sub.add_parser("token", help="API tokens (Authorization: Bearer …)")
    tsub = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    p = tsub.add_parser("create", help="create a token for USER and print it once")
    p.add_argument("username")
    p.add_argument("--label", default="", help="what the token is for, e.g. 'PACS bridge'")
    p = tsub.add_parser("list", help="list USER's tokens (ids and prefixes, never the tokens)")
    p.add_argument("username")
    p = tsub.add_parser("revoke", help="revoke one token by id, or --all")
    p.add_argument("username")
    p.add_argument("token_id", nargs="?", type=int)
    p.add_argument("--all", action="store_true")
    parser.set_defaults(run=run)


def actor() -> str:
    try:
        who = getpass.getuser()
    except Exception:  # no passwd entry (containers)
        who = str(os.getuid())
    return f"cli:{who}"


def read_password(args, username: str, stdin=None, prompt=getpass.getpass) -> tuple[str, bool]:
    """(password, generated?) from --generate, --password-stdin or an interactive prompt (twice)."""
    from dashboard.auth.passwords import generate_password

    stdin = stdin or sys.stdin
    if getattr(args, "generate", False):
        return generate_password(), True
    if getattr(args, "password_stdin", False):
        line = stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise SystemExit("error: --password-stdin got an empty line")
        return password, False
    if not stdin.isatty():
        raise SystemExit("error: no terminal to ask for a password: use --password-stdin or --generate")
    first = prompt(f"Password for {username}: ")
    if first != prompt("Again: "):
        raise SystemExit("error: the passwords differ")
    return first, False


def _fmt(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "—"


def run(args, auth=None, out=None) -> int:
    from dashboard.auth import AccountError, build_auth
    from dashboard.auth.passwords import PasswordPolicyError

    out = out or sys.stdout
    if auth is None:
        from dashboard.settings import Settings

        auth = build_auth(Settings.from_env())

    def record(action: str, target: str, **detail) -> None:
        auth.audit.record(action, actor=actor(), target=target, detail={"via": "cli", **detail})

    command = args.users_command
    try:
        if command == "add":
            password, generated = read_password(args, args.username)
            user = auth.store.add(args.username, args.role, password)
            record("user.add", user.username, role=user.role)
            print(f"created {user.username} ({user.role})", file=out)
            if generated:
                print(f"password (shown once): {password}", file=out)
        elif command == "remove":
            auth.store.remove(args.username)
            record("user.remove", args.username.lower())
            print(f"removed {args.username.lower()}: sessions ended, API tokens revoked", file=out)
        elif command == "set-role":
            old, new = auth.store.set_role(args.username, args.role)
            record("user.set_role", args.username.lower(), old=old, new=new)
            print(f"{args.username.lower()}: {old} -> {new}", file=out)
        elif command == "reset-password":
            if auth.store.get(args.username) is None:
                raise AccountError(f"no user {args.username!r}")
            password, generated = read_password(args, args.username)
            auth.store.set_password(args.username, password)
            record("user.reset_password", args.username.lower())
            print(f"password of {args.username.lower()} changed; their sessions were ended", file=out)
            if generated:
                print(f"password (shown once): {password}", file=out)
        elif command == "unlock":
            if auth.store.get(args.username) is None:
                raise AccountError(f"no user {args.username!r}")
            auth.throttle.unlock(args.username)
            record("user.unlock", args.username.lower())
            print(f"sign-in back-off of {args.username.lower()} cleared", file=out)
        elif command == "list":
            users = auth.store.list()
            print(f"{'username':<24} {'role':<10} {'status':<8} {'created':<17} last sign-in", file=out)
            for u in users:
                print(f"{u.username:<24} {u.role:<10} {'active' if u.active else 'removed':<8} {_fmt(u.created):<17} "
                      f"{_fmt(u.last_login)}", file=out)
            if not users:
                print("(no accounts: `python -m dashboard ensure-admin` creates the first admin)", file=out)
        elif command == "token":
            return _token(args, auth, record, out)
    except (AccountError, PasswordPolicyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _token(args, auth, record, out) -> int:
    from dashboard.auth import AccountError

    name = args.username.lower()
    if args.token_command == "create":
        token_id, token = auth.store.create_token(args.username, args.label)
        record("token.create", name, token_id=token_id)
        print(f"token {token_id} for {name} (shown once; send it as 'Authorization: Bearer <token>'):", file=out)
        print(token, file=out)
    elif args.token_command == "list":
        tokens = auth.store.list_tokens(args.username)
        print(f"{'id':>4}  {'prefix':<12} {'label':<24} {'created':<17} {'last used':<17} status", file=out)
        for t in tokens:
            status = f"revoked {_fmt(t['revoked'])}" if t["revoked"] else "live"
            print(f"{t['id']:>4}  {t['prefix'] + '…':<12} {t['label'][:24]:<24} {_fmt(t['created']):<17} "
                  f"{_fmt(t['last_used']):<17} {status}", file=out)
    elif args.token_command == "revoke":
        if args.token_id is None and not args.all:
            raise AccountError("name a token id (see `users token list NAME`) or pass --all")
        count = auth.store.revoke_tokens(args.username, None if args.all else args.token_id)
        record("token.revoke", name, token_id=None if args.all else args.token_id, count=count)
        print(f"revoked {count} token(s) of {name}", file=out)
        if count == 0:
            return 1
    return 0
