"""The jemalloc re-exec decision (pipeline/allocator.py) without exec'ing anything."""

from pipeline.allocator import MALLOC_CONF, find_jemalloc, jemalloc_environment


def test_preloads_library_and_keeps_existing_preloads():
    env = jemalloc_environment({"LD_PRELOAD": "/x/libfoo.so", "PATH": "/bin"}, "/lib/libjemalloc.so.2")
    assert env["LD_PRELOAD"] == "/lib/libjemalloc.so.2:/x/libfoo.so"
    assert env["MALLOC_CONF"] == MALLOC_CONF
    assert env["PATH"] == "/bin"


def test_no_reexec_when_absent_disabled_or_already_loaded():
    assert jemalloc_environment({}, None) is None
    assert jemalloc_environment({"LESIONLENS_JEMALLOC": "0"}, "/lib/libjemalloc.so.2") is None
    assert jemalloc_environment({"LD_PRELOAD": "/lib/libjemalloc.so.2"}, "/lib/libjemalloc.so.2") is None


def test_user_malloc_conf_wins(tmp_path):
    env = jemalloc_environment({"MALLOC_CONF": "narenas:1"}, "/lib/libjemalloc.so.2")
    assert env["MALLOC_CONF"] == "narenas:1"
    lib = tmp_path / "libjemalloc.so.2"
    lib.write_bytes(b"")
    assert find_jemalloc([str(tmp_path / "missing.so"), str(lib)]) == str(lib)
    assert find_jemalloc([str(tmp_path / "missing.so")]) is None
