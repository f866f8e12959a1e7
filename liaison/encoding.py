"""Turn any Python result into strict JSON (RFC 8259), converting what JSON cannot hold.

The rules, applied at any depth:

* an object with a ``getJSON()`` method: what that method returns;
* numpy arrays and scalars: lists and numbers (numpy is never imported here);
* NaN and +/-Infinity: ``null``, as JavaScript's ``JSON.stringify`` does;
* tuples, sets, frozensets, ranges and a dict's ``keys()``, ``values()`` and
  ``items()``: lists; mappings: objects with string keys;
* dates, times and datetimes: ISO 8601 text;
* bytes, bytearray and memoryview: standard base64 text;
* modules: ``"python:///module"``; classes and functions: ``"python:///module:qualname"``;
* exceptions: what ``traceback.format_exception`` gives, less liaison's own
  frames (the ``error`` of an error reply; see :func:`formatted_exception`);
* anything else: ``str(obj)``.

Mapping keys become names as ``json`` writes them (``1`` -> ``"1"``, ``None`` ->
``"null"``) and ``str(key)`` for other types. Two keys of one mapping that would
get the same name (``1`` and ``"1"``) are refused with :class:`DuplicateKeyError`,
neither merged nor renamed: a JSON parser would silently keep only one.
"""
import json
import math
import os
import sys
import types
from collections.abc import Mapping
from itertools import chain

from .companion import CommandError, ReentryError
from .interrupt import Cancelled
from .resolve import ResolveError

__all__ = ["DuplicateKeyError", "LiaisonJSONEncoder", "dumps", "exception_message", "exception_type",
           "formatted_exception", "jsonable"]

_ROUTINES = (types.FunctionType, types.BuiltinFunctionType, types.MethodType,
             type(str.join), type(object.__init__), type(str.__add__))

#: What becomes a list: iterating them runs no called code (a dict's views read the dict in C).
_AS_LISTS = (tuple, set, frozenset, range, type({}.keys()), type({}.values()), type({}.items()))

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
    if isinstance(obj, _AS_LISTS):
        return list(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    datetime = sys.modules.get("datetime")  # a date exists only once its module is imported: not here
    if datetime is not None and isinstance(obj, (datetime.date, datetime.time)):
        return obj.isoformat()
    if isinstance(obj, (bytes, bytearray, memoryview)):
        import base64  # only here: a reply with bytes is rare, and start-up time counts
        return base64.b64encode(bytes(obj)).decode("ascii")
    if isinstance(obj, types.ModuleType):
        return "python:///" + obj.__name__
    if isinstance(obj, (type,) + _ROUTINES):
        return _object_url(obj)
    if isinstance(obj, BaseException):
        return formatted_exception(obj)
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
            pass  # retried outside the handler, so that an error of the retry is not chained to this one
        else:
            converted, self._converted = self._converted, []
            _check_keys([o] + converted)
            return chunks
        return list(super().iterencode(jsonable(o), _one_shot))


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


def formatted_exception(error):
    """What ``traceback.format_exception`` gives for *error*, less liaison's own frames: a list of
    text items, each ending in a newline (a frame's is its ``File`` line with its source lines).

    The traceback of *error*, and of each exception it was raised from or while
    handling, starts at the first frame of called code; one left with no frame
    is its ``Type: message`` line alone. An error liaison raises itself about
    the request (an unknown command or target, a malformed message...) is one
    item, ``"Type: message\\n"`` with no traceback, and so is *error* when
    formatting it fails (an object in its traceback misbehaves).
    """
    try:
        if _raised_by_liaison(error):
            return [_headline(error)]
        items = []
        for exception, connection in _chain(error):
            items.extend(_formatted_alone(exception))
            if connection is not None:
                items.append(connection)
        return items
    except BaseException:
        return [_headline(error)]


def _headline(error):
    """``"Type: message\\n"``, or ``"Type\\n"`` for an empty message, with the class's bare name."""
    message = exception_message(error)
    return exception_type(error) + (": " + message if message else "") + "\n"


def _raised_by_liaison(error):
    """Whether liaison raised *error* about the request itself, so its traceback tells the client nothing:
    an unknown command or bad arguments, a target that does not resolve or is refused, a malformed
    message, a refused re-entry, a server that stopped, an unencodable result, or a cancellation
    that never reached called code."""
    from .protocol import ProtocolError  # imported here, as these two modules import this one
    from .server import ServerStopped
    if isinstance(error, (CommandError, ResolveError, ReentryError, ProtocolError, ServerStopped, DuplicateKeyError)):
        return True
    return isinstance(error, Cancelled) and _first_called_frame(error.__traceback__) is None


#: Connecting lines between the exceptions of a chain, as ``traceback`` prints them.
_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def _chain(error):
    """*error* and the exceptions it was raised from or while handling, as ``traceback`` prints them:
    oldest first, each paired with the line that leads to the next (None after *error*)."""
    chain = [(error, None)]
    seen = {id(error)}
    while True:
        cause, context = error.__cause__, error.__context__
        if cause is not None and id(cause) not in seen:
            error, connection = cause, _CAUSE
        elif context is not None and id(context) not in seen and not error.__suppress_context__:
            error, connection = context, _CONTEXT
        else:
            return reversed(chain)
        chain.append((error, connection))
        seen.add(id(error))


def _formatted_alone(error):
    """``format_exception``'s items for *error* without its chain, its traceback starting at called code.

    An exception group's members are formatted with their own chains, as ``traceback`` does.
    """
    import traceback  # only here: errors are rare, and start-up time counts
    summary = traceback.TracebackException(  # source lines are read once formatted: most of it is dropped
        type(error), error, _first_called_frame(error.__traceback__), lookup_lines=False)
    summary.__cause__ = summary.__context__ = None  # the chain is formatted one exception at a time
    return list(summary.format())


#: The folder of liaison's own code, as its code objects name it (as frames do, even where ``__file__``
#: differs: code compiled elsewhere); a user's module named like it (``liaison_x``) is not in it.
_PACKAGE_FOLDER = os.path.dirname(formatted_exception.__code__.co_filename) + os.sep
#: The standard library's folder, whose frames between two of liaison's (``json`` calling
#: liaison's encoder back) are liaison's work, not called code.
_STDLIB_FOLDER = os.path.dirname(os.__file__) + os.sep


def _first_called_frame(entry):
    """The first entry of traceback *entry* in called code, past liaison's frames; None if there is none.

    A run of standard-library frames counts as liaison's if a frame of liaison's
    follows it, and as called code otherwise (``run json:loads`` fails in ``json``).
    """
    library = None  # the first of the standard library's frames seen since liaison's last one
    while entry is not None:
        filename = entry.tb_frame.f_code.co_filename
        if filename.startswith(_PACKAGE_FOLDER):
            library = None
        elif filename.startswith(_STDLIB_FOLDER):
            library = library or entry
        else:
            return library or entry
        entry = entry.tb_next
    return library
