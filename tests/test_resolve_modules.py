"""Dotted targets follow sys.modules, the disk and the namespace as they are at each request, never an old answer.

The server runs in this process, so the test changes the very ``sys.modules``
and files the server resolves against.
"""
import importlib
import sys
import types

import pytest

PACKAGE = "liaison_test_pkg"


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A package with an attribute ``sub`` beside a submodule ``sub``, and a submodule ``other``."""
    root = tmp_path / PACKAGE
    root.mkdir()
    (root / "__init__.py").write_text("sub = 'attribute'\n")
    (root / "sub.py").write_text("value = 'submodule'\n")
    (root / "other.py").write_text("value = 'other'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield root
    for name in [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def test_a_submodule_is_imported_when_the_package_has_no_such_attribute(client, package):
    assert client.call("get", PACKAGE + ".other.value") == "other"
    assert client.call("exists", PACKAGE + ".other") is True


def test_a_package_attribute_wins_over_a_submodule_not_yet_imported_as_from_import_decides(client, package):
    from liaison_test_pkg import sub
    assert client.call("get", PACKAGE + ".sub") == sub == "attribute"
    importlib.import_module(PACKAGE + ".sub")
    assert client.call("get", PACKAGE + ".sub.value") == "submodule"


def test_a_module_put_in_sys_modules_later_is_found_and_one_removed_is_gone(client, package):
    target = PACKAGE + ".late.value"
    assert "no attribute 'late'" in client.error("get", target)["message"]
    late = types.ModuleType(PACKAGE + ".late")
    late.value = "late"
    sys.modules[late.__name__] = late
    assert client.call("get", target) == "late"
    replacement = types.ModuleType(late.__name__)
    replacement.value = "replaced"
    sys.modules[late.__name__] = replacement
    assert client.call("get", target) == "replaced"
    del sys.modules[late.__name__]
    assert client.error("get", target)["type"] == "ResolveError"
    assert client.call("exists", target) is False


def test_a_submodule_file_written_later_is_found(client, package):
    target = PACKAGE + ".fresh.value"
    assert client.call("exists", target) is False
    (package / "fresh.py").write_text("value = 'fresh'\n")
    importlib.invalidate_caches()
    assert client.call("get", target) == "fresh"


def test_a_module_removed_from_sys_modules_is_imported_again(client, package):
    assert client.call("get", PACKAGE + ".other.value") == "other"
    first = sys.modules[PACKAGE + ".other"]
    del sys.modules[PACKAGE + ".other"]
    (package / "other.py").write_text("value = 'other, written again'\n")
    importlib.invalidate_caches()
    assert client.call("get", PACKAGE + ".other.value") == "other, written again"
    assert sys.modules[PACKAGE + ".other"] is not first


def test_a_stored_name_shadows_a_module_and_unshadows_when_removed(client, package):
    assert client.call("get", PACKAGE + ".other.value") == "other"
    client.call("store", PACKAGE, {"other": "stored"})
    assert client.call("get", PACKAGE + '["other"]') == "stored"
    assert client.error("get", PACKAGE + ".other.value")["type"] == "ResolveError"
    client.call("run", "companion.namespace.pop", PACKAGE)
    assert client.call("get", PACKAGE + ".other.value") == "other"


def test_dotted_and_colon_forms_agree(client):
    for dotted, colon in [("json.dumps", "json:dumps"), ("os.path.join", "os.path:join"),
                          ("json.decoder.JSONDecoder", "json.decoder:JSONDecoder")]:
        assert client.call("get", dotted) == client.call("get", colon)
