"""A hostile subset of the bad-input corpus through a real gunicorn: answers in words, no worker lost.

gunicorn (2 workers, the deployment's process sandbox, a 10 s per-file
limit) gets the corpus files most likely to hurt a server (decompression
bombs by header, truncated files, deep nesting, polyglots, 5000 frames,
wrong transfer syntax) from 4 threads at once, plus good images before and
after. Every bad file gets a 4xx JSON with its expected message, every good
one a 200, nothing is stored for the rejected ones, and the worker PIDs are
the same at the end as at the start (no worker crashed or was killed by
gunicorn's timeout).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.browser.support import Gunicorn, run_cli, server_env, tiny_models_dir
from tests.corpus.make_bad_inputs import OK, build_corpus
from tests.fakes_predictor import lesion_png
from tests.integration.test_durability import api_headers

pytestmark = pytest.mark.slow
SUBSET = ("huge-40000x40000.png", "huge-100000x100000.tif", "huge-60000x60000.jpg", "huge-60000x60000.dcm",
          "truncated-half.png", "truncated-quarter.jpg", "bad-crc.png", "nested-50-deep.dcm", "5000-frames.dcm",
          "unknown-transfer-syntax.dcm", "wrong-transfer-syntax.dcm", "pixel-data-too-short.dcm", "setup.exe",
          "image.svg", "empty.png", "polyglot-html.dcm", "polyglot-zip.dcm", "rgb.dcm", "16bit.png")


def test_hostile_subset_through_gunicorn(tmp_path):
    corpus = {entry.name: entry for entry in build_corpus(tmp_path / "corpus")}
    entries = [corpus[name] for name in SUBSET]
    home = tmp_path / "home"
    env = server_env(home, tiny_models_dir(), LESIONLENS_FILE_TIME_LIMIT_S="10")
    assert run_cli(["ensure-admin"], env, timeout=300).returncode == 0
    headers = api_headers(env)
    server = Gunicorn(env, workers=2, threads=2, log=home / "gunicorn.log")
    try:
        server.wait_ready(timeout=120)
        pids = sorted(server.worker_pids())

        def post(name_data):
            name, data = name_data
            response = requests.post(f"{server.url}/api/v1/predict", files={"file": (name, data)}, headers=headers,
                                     timeout=120)
            return name, response.status_code, response.json()

        first = post(("before.png", lesion_png(200, 160, seed=1)))
        assert first[1] == 200, first
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(post, [(e.name, e.data) for e in entries]))
        last = post(("after.png", lesion_png(200, 160, seed=2)))
        assert last[1] == 200, last
        problems = []
        for (name, status, body), entry in zip(answers, entries):
            if entry.expected == OK:
                if status != 200:
                    problems.append(f"{name}: {status} {body}")
            elif not (400 <= status < 500 and entry.expected in body.get("error", "")):
                problems.append(f"{name}: {status} {body}")
        assert problems == []
        health = requests.get(f"{server.url}/healthz", timeout=10, headers=api_headers(env, "admin"))
        assert health.status_code == 200
        ok_count = 2 + sum(entry.expected == OK for entry in entries)
        assert health.json()["store"]["cases"] == ok_count  # nothing stored for the rejected files
        assert sorted(server.worker_pids()) == pids  # no worker lost
    finally:
        server.stop()
