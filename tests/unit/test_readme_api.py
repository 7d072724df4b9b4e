"""Issue 14, item 6: the README shows how to get a token and call the API with curl, and the example
matches the code (form field names, token command, routes)."""

from __future__ import annotations

import re

from pipeline.paths import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def test_readme_has_the_token_command_and_curl_examples():
    assert "python -m dashboard users token create" in README
    assert re.search(r"curl .*Authorization: Bearer \$TOKEN.*-F \"file=@", README)
    assert "/api/v1/predict" in README and "/api/v1/cases/" in README


def test_the_curl_example_uses_the_fields_the_api_reads():
    api = (REPO_ROOT / "dashboard" / "api.py").read_text()
    assert 'request.files.get("file")' in api
    fields = set(re.findall(r"-F (\w+)=", README))
    read = set(re.search(r'for k in \(([^)]*)\)', api).group(1).replace('"', "").replace(" ", "").split(","))
    assert fields and fields <= read, (fields, read)
    users = (REPO_ROOT / "dashboard" / "cli" / "users.py").read_text()
    assert "token create NAME [--label TEXT]" in users
