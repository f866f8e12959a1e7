"""Turn any Python result into strict JSON (RFC 8259), converting what JSON cannot hold.

The rules, applied at any depth:

* an object with a ``getJSON()`` method: what that method returns;
* numpy arrays and scalars: lists and numbers (numpy is never imported here);
* NaN and +/-Infinity: ``null``, as JavaScript's ``JSON.stringify`` does;
* tuples, sets and frozensets: lists; mappings: objects with string keys;
* dates, times and datetimes: ISO 8601 text;
* bytes, bytearray and memoryview: standard base64 text;
* modules: ``"python:///module"``; classes and functions: ``"python:///module:qualname"``;
* exceptions: their traceback as a list of lines (the ``error`` of an error reply);
* anything else: ``str(obj)``.

Mapping keys become names as ``json`` writes them (``1`` -> ``"1"``, ``None`` ->
``"null"``) and ``str(key)`` for other types. Two keys of one mapping that would
get the same name (``1`` and ``"1"``) are refused with :class:`DuplicateKeyError`,
neither merged nor renamed: a JSON parser would silently keep only one.
"""
import base64
import json
import math
import sys
import traceback
import types
from collections.abc import Mapping
from itertools import chain

__all__ = ["DuplicateKeyError", "LiaisonJSONEncoder", "dumps", "exception_lines", "exception_message",
           "exception_type", "jsonable"]

_ROUTINES = (types.FunctionType, types.BuiltinFunctionType, types.MethodType,
             type(str.join), type(object.__init__), type(str.__add__))

_STRINGS = frozenset((str,))
#: What the C encoder walks into itself; everything else it writes as it is or hands to ``default``.
_CONTAINERS = (dict, list, tuple)


#: Result types that need no conversion, encoded by one shared encoder that holds no state.
_PLAIN = frozenset((str, int, float, bool, type(None)))
_PLAIN_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)


class DuplicateKeyError(ValueError):
    """Two keys of one mapping would become the same JSON name."""


def dumps(obj):
    """Encode *obj* as strict JSON text, converting what JSON cannot hold (see the module doc)."""
    if type(obj) in _PLAIN:
        try:
            return _PLAIN_ENCODER.encode(obj)
        except ValueError:
            pass  # NaN or infinity (null), or an integer too long to print: the thorough path decides
    return LiaisonJSONEncoder(ensure_ascii=False).encode(obj)


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
            converted = {_key(key): jsonable(value, path) for key, value in obj.items()}
            if len(converted) < len(obj):
                _refuse_duplicates(obj)
            return converted
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


def _refuse_duplicates(mapping):
    """Raise :class:`DuplicateKeyError` naming two keys of *mapping* that get the same JSON name."""
    seen = {}
    for key in mapping:
        name = _key(key)
        if name in seen:
            raise DuplicateKeyError(
                "cannot encode the result: keys {!r} and {!r} of one mapping would both be the JSON name {}; "
                "make the keys distinct strings".format(seen[name], key, json.dumps(name)))
        seen[name] = key


def _check_keys(values):
    """Refuse duplicate names in the dicts the C encoder wrote from *values* (and lists, tuples, dicts in them).

    Level by level, so that depth cannot exhaust the stack, and at C speed where
    it can. Only for values the encoder took, which therefore hold no cycle.
    """
    level = [value for value in values if isinstance(value, _CONTAINERS)]
    while level:
        dicts = [value for value in level if isinstance(value, dict)]
        if dicts:
            if not _STRINGS.issuperset(map(type, chain.from_iterable(dicts))):
                for mapping in dicts:
                    _refuse_duplicates(mapping)
            others = [value for value in level if not isinstance(value, dict)] if len(dicts) < len(level) else ()
            items = chain(chain.from_iterable(map(dict.values, dicts)), chain.from_iterable(others))
        else:
            items = chain.from_iterable(level)
        level = [item for item in items if isinstance(item, _CONTAINERS)]


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
    datetime = sys.modules.get("datetime")  # a date exists only once its module is imported: not here
    if datetime is not None and isinstance(obj, (datetime.date, datetime.time)):
        return obj.isoformat()
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(obj)).decode("ascii")
    if isinstance(obj, types.ModuleType):
        return "python:///" + obj.__name__
    if isinstance(obj, (type,) + _ROUTINES):
        return _object_url(obj)
    if isinstance(obj, BaseException):
        return exception_lines(obj)
    return str(obj)


class LiaisonJSONEncoder(json.JSONEncoder):
    """A ``json.JSONEncoder`` that applies liaison's conversions (see the module doc): strict JSON out.

    ``json.dumps(obj, cls=LiaisonJSONEncoder)`` gives what a reply would carry
    (with ``json``'s own spacing and ``ensure_ascii`` unless told otherwise).
    ``allow_nan`` is always off: NaN and Infinity become ``null``.
    """

    def __init__(self, **options):
        options["allow_nan"] = False
        super().__init__(**options)
        self._converted = []

    def default(self, o):
        """*o* converted one step; kept until the end of encoding, to check its keys."""
        converted = _convert(o)
        self._converted.append(converted)
        return converted

    def iterencode(self, o, _one_shot=False):
        """The chunks of *o*'s JSON text; NaN, cycles or keys ``json`` cannot write take the thorough path."""
        self._converted = []
        try:
            chunks = list(super().iterencode(o, _one_shot))
        except (ValueError, TypeError):
            return list(super().iterencode(jsonable(o), _one_shot))
        converted, self._converted = self._converted, []
        _check_keys([o] + converted)
        return chunks


def _object_url(obj):
    """``python:///module:qualname`` for a class or function."""
    module = getattr(obj, "__module__", None) or "builtins"
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj)
    return "python:///{}:{}".format(module, name)


# Describing exceptions: each function here returns text whatever the exception does
# (a __str__ that raises, a traceback that cannot be formatted), so that an error reply
# can always be built.

_TYPE_NAME = type.__dict__["__name__"].__get__  # the class's own name, past any metaclass override


def exception_type(error):
    """The name of *error*'s class, such as ``"ValueError"``."""
    return _TYPE_NAME(type(error))


def exception_message(error):
    """``str(error)``, or a placeholder saying what went wrong when ``str()`` itself raises."""
    try:
        return str(error)
    except BaseException as problem:
        return "<str() of {} raised {}>".format(exception_type(error), exception_type(problem))


def exception_lines(error):
    """*error*'s traceback as ``traceback`` prints it, one line per item; the last is ``Type: message``.

    If formatting fails (an object in the traceback misbehaves), just the
    ``Type: message`` line.
    """
    try:
        return "".join(traceback.format_exception(type(error), error, error.__traceback__)).splitlines()
    except BaseException:
        message = exception_message(error)
        return [exception_type(error) + (": " + message if message else "")]
