"""The bad-input corpus: every file gets its required answer, quickly and without leaks.

For each of the 60-odd files built by `tests/corpus/make_bad_inputs.py`,
`load_image` must either load it (entries marked OK) or raise ImageLoadError
whose message contains the expected fragment, reads as one plain sentence
(no traceback or exception text) and names no patient. Each file must be
answered within 5 s: a bound that catches decompression bombs and parser
loops, not a benchmark. De-identification is run over the same corpus: it
must refuse the same files cleanly, and it must zero the preamble of the
polyglots, which are otherwise valid DICOM.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from pipeline.deid import deidentify_bytes
from pipeline.io import ImageLoadError, load_image
from tests.corpus.make_bad_inputs import OK, PATIENT, BadInput, build_corpus

MAX_SECONDS = 5.0
TRACEBACK_TEXT = re.compile(r"Traceback|File \"|line \d+|Error\b|Exception|<class|0x[0-9a-f]{6,}")
SALT = b"corpus-salt-0123456789"
DEID_REFUSALS = {
    "empty.png": "file is empty",
    "report.pdf": "file is not a DICOM file",
    "nested-50-deep.dcm": "nested more than 8 levels",
    "unknown-transfer-syntax.dcm": "unknown transfer syntax and cannot be de-identified",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[BadInput]:
    return build_corpus(tmp_path_factory.mktemp("bad-inputs"))


def _outcome(entry: BadInput) -> tuple[str, float]:
    start = time.perf_counter()
    try:
        record = load_image(entry.path)
    except ImageLoadError as error:
        return str(error), time.perf_counter() - start
    elapsed = time.perf_counter() - start
    assert record.pixels.ndim == 2 and np.isfinite(record.pixels).all(), entry.name
    return OK, elapsed


def _problems(entry: BadInput, outcome: str) -> list[str]:
    if entry.expected == OK:
        return [] if outcome == OK else [f"should load, got {outcome!r}"]
    if outcome == OK:
        return [f"loaded, expected an error containing {entry.expected!r}"]
    problems = []
    if entry.expected not in outcome:
        problems.append(f"message {outcome!r} lacks {entry.expected!r}")
    if TRACEBACK_TEXT.search(outcome) or "\n" in outcome or len(outcome) > 200:
        problems.append(f"message is not a plain sentence: {outcome!r}")
    leaked = [value for value in (*entry.identifiers, *PATIENT) if value in outcome]
    if leaked or "SECRET" in outcome:
        problems.append(f"message names the patient: {outcome!r}")
    return problems


def test_corpus_is_large_and_varied(corpus):
    assert len(corpus) >= 50
    assert len({entry.name for entry in corpus}) == len(corpus)
    ok = [entry for entry in corpus if entry.expected == OK]
    assert 8 <= len(ok) < len(corpus) // 2
    assert sum(entry.polyglot for entry in corpus) == 3
    assert sum(entry.name.startswith("pydicom-") for entry in corpus) >= 5
    assert all(len(entry.data) < 200_000 for entry in corpus)  # nothing large, on disk or in git


def test_every_input_gets_its_answer_within_the_time_bound(corpus, capsys):
    failures, timings, outcomes = [], [], {}
    for entry in corpus:
        outcome, elapsed = _outcome(entry)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        timings.append((elapsed, entry.name))
        failures += [f"{entry.name}: {problem}" for problem in _problems(entry, outcome)]
    slowest, name = max(timings)
    with capsys.disabled():
        print(f"\nbad-input corpus: {len(corpus)} files, slowest {name} in {slowest:.3f} s")
        for outcome, count in sorted(outcomes.items(), key=lambda item: -item[1]):
            print(f"  {count:3d} x {outcome}")
    assert failures == []
    assert slowest <= MAX_SECONDS, f"{name} took {slowest:.1f} s"


def test_deidentification_refuses_or_cleans_every_input(corpus):
    """Same corpus through `deidentify_bytes`: ImageLoadError or a clean, loadable file."""
    for entry in corpus:
        start = time.perf_counter()
        try:
            out = deidentify_bytes(entry.data, pseudonym="LL-CORPUS", salt=SALT)
        except ImageLoadError as error:
            assert DEID_REFUSALS.get(entry.name, "") in str(error), f"{entry.name}: {error}"
            assert not TRACEBACK_TEXT.search(str(error)), f"{entry.name}: {error}"
            assert not any(value in str(error) for value in (*entry.identifiers, *PATIENT)), entry.name
            continue
        finally:
            assert time.perf_counter() - start <= MAX_SECONDS, entry.name
        assert entry.name not in DEID_REFUSALS, f"{entry.name} should have been refused"
        assert out[:128] == bytes(128) and out[128:132] == b"DICM", entry.name
        assert not any(value.encode() in out for value in PATIENT), entry.name
        if entry.expected == OK:
            np.testing.assert_array_equal(load_image(out).pixels, load_image(entry.data).pixels)


@pytest.mark.parametrize("marker", [b"<script>", b"PK\x03\x04", b"MZ\x90\x00"])
def test_polyglot_preambles_load_but_do_not_survive_deidentification(corpus, marker):
    entry = next(e for e in corpus if e.polyglot and marker in e.data[:128])
    assert marker in entry.data[:128]
    assert load_image(entry.path).shape == (32, 32)
    out = deidentify_bytes(entry.data, pseudonym="LL-CORPUS", salt=SALT)
    assert out[:128] == bytes(128) and marker not in out
