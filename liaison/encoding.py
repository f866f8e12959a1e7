"""Turn any Python result into strict JSON (RFC 8259), converting what JSON cannot hold.

The rules, applied at any depth:

* an object with a ``getJSON()`` method: what that method returns;
* numpy arrays and scalars: lists and numbers (numpy is never imported here);
* NaN and +/-Infinity: ``null``, as JavaScript's ``JSON.stringify`` does;
* tuples, sets and frozensets: lists; mappings: objects with string keys;
* dates, times and datetimes: ISO 8601 text;
* bytes, bytearray and memoryview: standard base64 text;
* modules: ``"python:///module"``; classes and functions: ``"python:///module:qualname"``;
* exceptions: the error object ``{"type", "message", "traceback"}``;
* anything else: ``str(obj)``.
"""
import base64
import datetime
import json
import math
import traceback
import types
from collections.abc import Mapping

__all__ = ["dumps", "error_object", "jsonable"]

_ROUTINES = (types.FunctionType, types.BuiltinFunctionType, types.MethodType,
             type(str.join), type(object.__init__), type(str.__add__))


def dumps(obj):
    """Encode *obj* as strict JSON text, converting what JSON cannot hold (see the module doc)."""
    try:
        return _ENCODER.encode(obj)
    except (ValueError, TypeError):
        # NaN somewhere, non-string keys or a cycle: take the slow, thorough path.
        return json.dumps(jsonable(obj), ensure_ascii=False, allow_nan=False)


def jsonable(obj, _path=None):
    """Return a copy of *obj* made only of dicts, lists, strings, finite numbers, booleans and None."""
    if obj is None or isinstance(obj, (str, bool, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    path = set() if _path is None else _path
    if id(obj) in path:
        return "<circular reference to {}>".format(type(obj).__name__)
    path.add(id(obj))
    try:
        if isinstance(obj, Mapping):
            return {_key(key): jsonable(value, path) for key, value in obj.items()}
        if isinstance(obj, list):
            return [jsonable(item, path) for item in obj]
        return jsonable(_convert(obj), path)
    finally:
        path.discard(id(obj))


def _key(key):
    """Mapping keys as ``json`` writes them, and ``str(key)`` for the rest."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return json.dumps(key)
    if isinstance(key, float) and not math.isfinite(key):
        return str(key)
    if isinstance(key, (int, float)):
        return json.dumps(key)
    return str(key)


def _convert(obj):
    """One conversion step for an object ``json`` cannot encode; the result may need more steps."""
    get_json = getattr(obj, "getJSON", None)
    if callable(get_json) and not isinstance(obj, type):
        return get_json()
    module = type(obj).__module__
    if module == "numpy" and hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (tuple, set, frozenset)):
        return list(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, (datetime.date, datetime.time)):
        return obj.isoformat()
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(obj)).decode("ascii")
    if isinstance(obj, types.ModuleType):
        return "python:///" + obj.__name__
    if isinstance(obj, (type,) + _ROUTINES):
        return _object_url(obj)
    if isinstance(obj, BaseException):
        return error_object(obj)
    return str(obj)


#: One encoder for every reply: building an encoder per call costs more than encoding a small result.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=_convert)


def _object_url(obj):
    """``python:///module:qualname`` for a class or function."""
    module = getattr(obj, "__module__", None) or "builtins"
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj)
    return "python:///{}:{}".format(module, name)


def error_object(error):
    """Describe an exception as ``{"type", "message", "traceback"}``, the error object of the protocol."""
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    return {
        "type": type(error).__name__,
        "message": str(error),
        "traceback": "".join(lines).splitlines(),
    }
