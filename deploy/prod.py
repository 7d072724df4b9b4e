"""`make prod`: nginx (TLS, timeouts, size limits, buffering) in front of gunicorn on a local socket.

    python deploy/prod.py [--host 127.0.0.1] [--port 8443] [--cert FILE --key FILE] [--workers 2] [--threads 4]
    python deploy/prod.py --render-only --socket /run/lesionlens/gunicorn.sock --cert FILE --key FILE …

Why: gunicorn alone, bound to a public address, serves each connection with
one of its few threads, so a handful of clients sending headers one byte at
a time stop the app. nginx holds those clients instead (event-driven, header
timeout 10 s, body timeout 30 s, per-address connection cap), buffers every
request body, terminates TLS, and passes only complete requests to gunicorn
over a unix socket that nothing outside this machine can reach.

What it does: makes `<home>/tls/{cert,key}.pem` (self-signed for the host
name and 127.0.0.1, 825 days, with openssl) unless --cert/--key are given;
renders deploy/nginx.conf.template into `<home>/nginx/nginx.conf`; starts
gunicorn on `<home>/run/gunicorn.sock` with the environment a proxied app
needs (LESIONLENS_TRUST_PROXY=1: the client address is the proxy's
X-Forwarded-For; LESIONLENS_SECURE_COOKIES=1); starts nginx in the
foreground; stops both on SIGINT/SIGTERM or when either exits. nginx comes
from Debian (`apt-get install nginx`); `NGINX=/path/to/nginx` overrides.
`--render-only` only writes the nginx configuration (for `--socket`, the
gunicorn socket of another service manager) and prints its path: the
systemd units in deploy/systemd/ run gunicorn and nginx as two services with
the same configuration as this command.
"""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"


def home() -> Path:
    return Path(os.environ.get("LESIONLENS_HOME") or ROOT / "var").resolve()


def nginx_binary() -> str:
    found = os.environ.get("NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(found).exists():
        raise SystemExit("nginx not found: install it (Debian: apt-get install -y nginx) or set NGINX=/path/to/nginx")
    return found


def ensure_certificate(folder: Path, host: str) -> tuple[Path, Path]:
    """A self-signed certificate for `host` (and localhost / 127.0.0.1), made once."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    if cert.is_file() and key.is_file():
        return cert, key
    folder.mkdir(parents=True, exist_ok=True)
    names = {"DNS:localhost", "IP:127.0.0.1", f"DNS:{socket.gethostname()}"}
    names.add(f"IP:{host}" if host.replace(".", "").isdigit() else f"DNS:{host}")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "825",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=Lesion Lens (self-signed)",
                    "-addext", "subjectAltName=" + ",".join(sorted(names))],
                   check=True, capture_output=True)
    key.chmod(0o600)
    return cert, key


def render(values: dict[str, str]) -> str:
    text = TEMPLATE.read_text()
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", str(value))
    if "{{" in text:
        raise ValueError("unfilled placeholder in nginx.conf.template")
    return text


def write_config(base: Path, host: str, port: int, socket_path: Path, cert: Path, key: Path) -> Path:
    prefix = base / "nginx"
    for sub in ("", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    max_body = int(os.environ.get("LESIONLENS_MAX_REQUEST_MB") or 256) + 1  # a little for multipart framing
    # as root, nginx's workers would run as "nobody" and could not reach the socket under this home
    user_line = f"user {getpass.getuser()};" if os.geteuid() == 0 else "# (not root: workers run as this user)"
    config = render({"USER_LINE": user_line, "PREFIX": prefix, "MIME_TYPES": "/etc/nginx/mime.types",
                     "MAX_BODY_MB": max_body, "SOCKET": socket_path, "HOST": host, "PORT": port,
                     "CERT": cert, "KEY": key, "CONN_PER_IP": os.environ.get("LESIONLENS_CONN_PER_IP", "200")})
    path = prefix / "nginx.conf"
    path.write_text(config)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="nginx + gunicorn (see deploy/prod.py)")
    parser.add_argument("--host", default=os.environ.get("LESIONLENS_PROD_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("LESIONLENS_PROD_PORT", "8443")))
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("THREADS", "4")))
    parser.add_argument("--socket", type=Path, help="gunicorn's unix socket (default: <home>/run/gunicorn.sock)")
    parser.add_argument("--render-only", action="store_true", help="write the nginx configuration, print its path, exit")
    args = parser.parse_args(argv)
    base = home()
    if bool(args.cert) != bool(args.key):
        parser.error("--cert and --key go together")
    cert, key = (Path(args.cert), Path(args.key)) if args.cert else ensure_certificate(base / "tls", args.host)
    run_dir = base / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    socket_path = args.socket or run_dir / "gunicorn.sock"
    config = write_config(base, args.host, args.port, socket_path, cert, key)
    if args.render_only:
        print(config)
        return 0
    nginx = nginx_binary()
    subprocess.run([nginx, "-t", "-q", "-c", str(config), "-p", str(config.parent)], check=True)
    env = {**os.environ, "LESIONLENS_HOME": str(base), "LESIONLENS_TRUST_PROXY": "1",
           "LESIONLENS_SECURE_COOKIES": "1"}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    web = subprocess.Popen([str(gunicorn), "dashboard.app:server", "--bind", f"unix:{socket_path}",
                            "--workers", str(args.workers), "--threads", str(args.threads), "--timeout", "120"],
                           cwd=ROOT, env=env)
    proxy = subprocess.Popen([nginx, "-c", str(config), "-p", str(config.parent)], cwd=ROOT)
    print(f"==> https://{args.host}:{args.port} (nginx -> {socket_path}; certificate {cert})", flush=True)
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping and web.poll() is None and proxy.poll() is None:
            time.sleep(0.5)
    finally:
        for process in (proxy, web):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (proxy, web):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    return 0 if stopping else 1


if __name__ == "__main__":
    raise SystemExit(main())
