"""Issue 17.4 (hospital IT): the Dockerfile and the systemd units name files that exist and say what the README
promises (hashed requirements, gunicorn.conf.py, the app module, non-root, /healthz, volumes, unix socket).
No image is built here (no Docker daemon on the test machine); `systemd-analyze verify` runs when present."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "deploy" / "systemd"
INSTALL = "/opt/lesionlens"  # where the units expect the checkout
SOCKET = "/run/lesionlens/gunicorn.sock"


def dockerfile() -> str:
    return (REPO / "Dockerfile").read_text()


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#")))
    return [(m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"^\s*([A-Za-z]+)\s+(.*)$", joined, re.M)]


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """{section: {key: [values]}} of a unit file (keys repeat in systemd, e.g. ExecStartPre, Environment)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(section: dict[str, list[str]], key: str) -> str:
    (value,) = section[key]
    return value


def test_dockerfile_is_slim_hashed_non_root_with_healthcheck_and_volumes():
    steps = instructions(dockerfile())
    froms = [args for op, args in steps if op == "FROM"]
    args = dict(a.split("=", 1) for op, a in steps if op == "ARG" and "=" in a)
    assert froms and all(f.split()[0] in ("${PYTHON_IMAGE}",) for f in froms)
    assert args["PYTHON_IMAGE"].startswith("python:3.11-slim")
    runs = " ".join(a for op, a in steps if op == "RUN")
    assert "--require-hashes -r /build/requirements.txt" in runs and "slim_env.py" in runs
    users = [a for op, a in steps if op == "USER"]
    assert users == ["lesionlens"] and "useradd --system --uid 10001" in runs
    env = " ".join(a for op, a in steps if op == "ENV")
    assert "LESIONLENS_HOME=/var/lib/lesionlens" in env and "LESIONLENS_MODELS=/models" in env
    assert "PIP_NO_INDEX=1" in env  # nothing fetched at run time
    volumes = next(a for op, a in steps if op == "VOLUME")
    assert '"/var/lib/lesionlens"' in volumes and '"/models"' in volumes
    health = next(a for op, a in steps if op == "HEALTHCHECK")
    assert "http://127.0.0.1:8000/healthz" in health
    command = next(a for op, a in steps if op == "CMD")
    for part in ('"gunicorn"', '"dashboard.app:server"', '"--config", "gunicorn.conf.py"', '"0.0.0.0:8000"'):
        assert part in command


def test_dockerfile_copies_files_that_exist_and_the_context_lets_them_through():
    steps = instructions(dockerfile())
    ignore = (REPO / ".dockerignore").read_text().split()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    sources = []
    for op, args in steps:
        if op == "COPY" and not args.startswith("--from"):
            sources += [s for s in args.split()[:-1] if not s.startswith("--")]
    assert sources and "requirements.txt" in sources and "gunicorn.conf.py" in sources and "dashboard" in sources
    for source in sources:
        assert (REPO / source).exists(), source
        assert source.rstrip("/") in allowed, f"{source} is not allowed into the build context by .dockerignore"
    assert (REPO / "dashboard" / "app.py").read_text().count("\nserver = ") == 1  # dashboard.app:server


def repo_path(path: str) -> Path | None:
    """A path under the unit's install folder, as a path of this checkout (None: not the checkout's)."""
    if not path.startswith(INSTALL + "/"):
        return None
    return REPO / path[len(INSTALL) + 1 :]


def test_units_run_gunicorn_on_the_socket_behind_the_nginx_template():
    web = unit("lesionlens.service")["Service"]
    assert one(web, "User") == "lesionlens" and one(web, "WorkingDirectory") == INSTALL and one(web, "Type") == "notify"
    start = one(web, "ExecStart").split()
    assert start[0] == f"{INSTALL}/.venv/bin/gunicorn" and "dashboard.app:server" in start
    config = start[start.index("--config") + 1]
    assert (REPO / config).is_file() and config == "gunicorn.conf.py"
    assert start[start.index("--bind") + 1] == f"unix:{SOCKET}" and one(web, "RuntimeDirectory") == "lesionlens"

    proxy = unit("lesionlens-nginx.service")
    assert one(proxy["Unit"], "Requires") == "lesionlens.service" and one(proxy["Service"], "User") == "lesionlens"
    render = next(c for c in proxy["Service"]["ExecStartPre"] if "prod.py" in c).split()
    assert (REPO / render[1]).is_file() and render[render.index("--socket") + 1] == SOCKET

    backup = unit("lesionlens-backup.service")["Service"]
    assert "deploy/backup.py backup --out" in one(backup, "ExecStart") and (REPO / "deploy" / "backup.py").is_file()
    assert one(unit("lesionlens-backup.timer")["Timer"], "OnCalendar")
    for name in ("lesionlens.service", "lesionlens-nginx.service", "lesionlens-backup.service"):
        for value in re.findall(rf"{INSTALL}/[^\s']+", (UNITS / name).read_text()):
            local = repo_path(value)
            if local is not None and ".venv" not in local.parts:
                assert local.exists(), f"{name} names {value}, which this checkout does not have"


def test_the_nginx_unit_renders_the_make_prod_configuration_for_the_socket(tmp_path):
    proxy = unit("lesionlens-nginx.service")["Service"]
    render = next(c for c in proxy["ExecStartPre"] if "prod.py" in c).split()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("certificate"), key.write_text("key")
    arguments = render[2:]
    arguments[arguments.index("--cert") + 1], arguments[arguments.index("--key") + 1] = str(cert), str(key)
    env = {**os.environ, "LESIONLENS_HOME": str(tmp_path / "home")}
    result = subprocess.run(
        [sys.executable, str(REPO / render[1]), *arguments],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    config = Path(result.stdout.strip()).read_text()
    assert f"server unix:{SOCKET};" in config and f"ssl_certificate {cert};" in config
    assert "listen 0.0.0.0:443 ssl" in config and "X-Forwarded-For $remote_addr" in config
    # the unit starts nginx on exactly the file prod.py wrote (relative to LESIONLENS_HOME)
    assert one(proxy, "ExecStart").endswith("-c /var/lib/lesionlens/nginx/nginx.conf -p /var/lib/lesionlens/nginx")
    assert Path(result.stdout.strip()) == tmp_path / "home" / "nginx" / "nginx.conf"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify(tmp_path):
    """The units as systemd parses them, with the install folder mapped onto this checkout."""
    names = ["lesionlens.service", "lesionlens-backup.service", "lesionlens-backup.timer"]
    if Path("/usr/sbin/nginx").exists():
        names.append("lesionlens-nginx.service")
    for name in names:
        text = (UNITS / name).read_text().replace(f"{INSTALL}/.venv", str(Path(sys.executable).parent.parent))
        text = text.replace(INSTALL, str(REPO)).replace(
            "/etc/lesionlens/lesionlens.env", str(UNITS / "lesionlens.env.example")
        )
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", *[str(tmp_path / n) for n in names]], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
