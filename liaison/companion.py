"""The Companion: a namespace of Python objects and the commands that act on it.

It knows nothing of transports or JSON: a server hands it a command name with
arguments and gets a Python result back, or an exception.
"""
import _thread
import collections.abc
import io
import itertools
import re
import types

from .interrupt import call_exposed
from .resolve import Resolver

__all__ = ["Command", "CommandError", "CommandTable", "Companion", "CompanionLock", "ReentryError", "ITERATOR_ITEMS"]

#: Most items an iterator (a generator, ``map``, ``zip``...) returned by a command may yield to become the
#: list sent as the result; one that yields more is an error.
ITERATOR_ITEMS = 10000


#: JSON value types that never hold a ``"$path"``; lists of only these are passed on untouched, at C speed.
_SCALARS = frozenset((int, float, bool, type(None)))

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


class CommandError(ValueError):
    """A request the Companion cannot carry out as asked: unknown command or bad arguments."""


class ReentryError(RuntimeError):
    """A thread already running a command inside the Companion asked for the Companion again."""


class CompanionLock(_thread.RLock):
    """The Companion's lock: one command at a time runs inside the Companion.

    It guards the namespace and every object reached through it while a command
    that declares ``lock`` runs (all commands but ``ping``). Host code that
    touches those objects from its own thread takes it too: ``with
    companion.lock: ...``; other threads wait for it as for any lock.

    A command's thread already holds it, so asking for it again is refused at
    once with :class:`ReentryError`, where waiting would hang every client:
    :meth:`acquire` (``run companion.lock.acquire`` would keep it for good) and
    a command calling back into ``dispatch``. A ``with`` block re-enters, since
    it always releases what it took. The owner is kept in C, so an exception
    raised asynchronously into a thread (a cancelled command) cannot leave the
    lock taken with no owner.
    """

    def acquire(self, blocking=True, timeout=-1):
        """Take the lock as ``threading.Lock.acquire`` does; raise :class:`ReentryError` if this thread holds it."""
        if self._is_owned():
            raise _reentry_error()
        return super().acquire(blocking, timeout)

    def held(self):
        """Whether the calling thread holds the lock (it is running a command inside the Companion)."""
        return self._is_owned()


def _reentry_error():
    return ReentryError(
        "this thread is already running a command inside the Companion, so it cannot wait for the "
        "Companion again (dispatch, handle_message or lock.acquire from inside a command); "
        "call the function directly instead")


class Command:
    """How the Companion runs one protocol command: its callable and four declarations.

    *lock*: runs under the Companion lock; *substitute*: ``"$name"`` strings in
    its arguments are replaced by namespace objects first; *urgent*: answered
    at once, ahead of queued commands (so never under the lock); *exposed*: the
    function is called code, which ``cancel`` may interrupt anywhere (liaison's
    own commands say False, and expose only the code they call: see
    :mod:`liaison.interrupt`).
    """

    __slots__ = ("function", "lock", "substitute", "urgent", "exposed", "_shape", "_checked")

    def __init__(self, function, lock=True, substitute=True, urgent=False, exposed=True):
        if not callable(function):
            raise TypeError("a command must be a callable such as a function or bound method, not {!r}".format(
                function))
        if urgent and lock:
            raise ValueError("an urgent command runs beside a command that holds the Companion lock, "
                             "so it cannot take the lock; pass lock=False")
        self.function = function
        self.lock = lock
        self.substitute = substitute
        self.urgent = urgent
        self.exposed = exposed
        self._shape = _Shape.of(function)
        self._checked = None

    def signature(self):
        """The callable's signature, or None when ``inspect`` cannot tell (some builtins)."""
        return self._checking()[0]

    def check(self, name, args, kwargs):
        """Raise :class:`CommandError` with a usage line unless *args* and *kwargs* fit the signature."""
        if self._shape is not None and self._shape.fits(args, kwargs):
            return  # the common case, decided from the code object (inspect costs milliseconds to import)
        signature, keywords, positional = self._checking()
        if signature is None:
            return
        if not kwargs and positional is not None and positional[0] <= len(args) <= positional[1]:
            return  # the common case, decided without binding (which costs microseconds a request)
        if keywords is not None:
            kwargs = {key: value for key, value in kwargs.items() if key in keywords}
        try:
            signature.bind(*args, **kwargs)
        except TypeError as error:
            raise CommandError("{}: {}; usage: {}{}".format(name, error, name, signature))

    def _checking(self):
        """``(signature, keywords, positional)``, worked out once: ``inspect.signature`` is slow.

        With ``**kwargs``, only *keywords* (the names that may be passed by
        keyword) can clash; the rest land in ``**kwargs`` whatever they are
        called. Binding just those also dodges Python 3.6 and 3.7 refusing a
        keyword named like a positional-only parameter. *positional* is the
        ``(least, most)`` count of positional arguments that fits when no
        keyword is passed (None if none does).
        """
        if self._checked is None:
            try:
                signature = _signature(self.function)
            except (TypeError, ValueError):
                self._checked = (None, None, None)
            else:
                parameters = signature.parameters.values()
                kinds = _inspect().Parameter
                keywords = None
                if any(parameter.kind == kinds.VAR_KEYWORD for parameter in parameters):
                    keywords = frozenset(parameter.name for parameter in parameters if parameter.kind in (
                        kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY))
                self._checked = (signature, keywords, _positional_counts(parameters))
        return self._checked


def _positional_counts(parameters):
    """``(least, most)`` positional arguments that fit *parameters* with no keyword argument, or None."""
    kinds = _inspect().Parameter
    if any(parameter.kind == kinds.KEYWORD_ONLY and parameter.default is kinds.empty for parameter in parameters):
        return None
    defaults = [parameter.default is not kinds.empty for parameter in parameters
                if parameter.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
    least = defaults.index(True) if True in defaults else len(defaults)
    if not all(defaults[least:]):
        return None
    most = float("inf") if any(parameter.kind == kinds.VAR_POSITIONAL for parameter in parameters) \
        else len(defaults)
    return least, most


class _Shape:
    """What a plain Python function's code object says of the arguments it takes: enough to let a fitting
    call through without ``inspect``, which decides (and words the error) in every other case."""

    __slots__ = ("positional", "keywordable", "required", "most", "keyword_only", "any_keyword")

    @classmethod
    def of(cls, function):
        """The shape of *function* (a plain function or method), or None when only ``inspect`` can tell
        (builtins, wrappers, functions that declare their own signature)."""
        target = getattr(function, "__func__", function)
        if not isinstance(target, types.FunctionType) or hasattr(target, "__wrapped__") or \
                hasattr(target, "__signature__"):
            return None
        shape = cls()
        bound = 1 if isinstance(function, types.MethodType) else 0
        leading = getattr(target, "_leading", None)
        if isinstance(leading, tuple):  # Companion's methods that take self from *args
            shape.positional, shape.keywordable, shape.required = leading, frozenset(), len(leading)
            shape.most, shape.keyword_only, shape.any_keyword = float("inf"), frozenset(), True
            return shape
        code = target.__code__
        names = code.co_varnames[:code.co_argcount]
        positional_only = getattr(code, "co_posonlyargcount", 0)
        shape.positional = names[bound:]
        shape.required = max(0, code.co_argcount - len(target.__defaults__ or ()) - bound)
        shape.most = float("inf") if code.co_flags & _CO_VARARGS else len(shape.positional)
        keyword_only = code.co_varnames[code.co_argcount:code.co_argcount + code.co_kwonlyargcount]
        defaults = target.__kwdefaults__ or {}
        shape.keyword_only = frozenset(name for name in keyword_only if name not in defaults)
        shape.keywordable = frozenset(names[max(bound, positional_only):]) | frozenset(keyword_only)
        shape.any_keyword = bool(code.co_flags & _CO_VARKEYWORDS)
        return shape

    def fits(self, args, kwargs):
        """Whether a call with *args* and *kwargs* certainly binds (False: let ``inspect`` decide)."""
        count = len(args)
        if not self.required - len(kwargs) <= count <= self.most:
            return False
        if not kwargs:
            return count >= self.required and not self.keyword_only
        filled = self.positional[:count]
        for name in kwargs:
            if name in filled or not (name in self.keywordable or self.any_keyword):
                return False
        return all(name in kwargs and name in self.keywordable for name in self.positional[count:self.required]) \
            and self.keyword_only.issubset(kwargs)


#: The code flags of a function that takes ``*args``, and ``**kwargs``.
_CO_VARARGS = 0x04
_CO_VARKEYWORDS = 0x08


def _inspect():
    """The ``inspect`` module, imported when first needed: it costs several milliseconds of start-up."""
    import inspect
    return inspect


def _signature(function):
    """``inspect.signature(function)``; for :class:`Companion`'s methods that take ``self`` from ``*args``,
    the signature their ``_leading`` names describe (built on first need)."""
    inspect = _inspect()
    target = getattr(function, "__func__", function)
    leading = getattr(target, "_leading", None)
    if isinstance(leading, tuple) and "__signature__" not in target.__dict__:
        target.__signature__ = _positional_then_any(inspect, *leading)
    return inspect.signature(function)


class CommandTable(dict):
    """One Companion's commands: protocol name -> callable.

    ``table[name] = fn`` (or ``update``, ``setdefault``, ``|=``) adds a command
    with the defaults for application commands: it takes the Companion lock,
    has ``$`` references substituted and is not urgent; :meth:`add` declares
    otherwise. Values must be callables, so no name can be mapped to a method
    name or other data. The table cannot be changed by a thread that holds
    *lock* (the Companion's): commands are the host's to choose, never a
    client's (through ``run companion.commands.update ...``).
    """

    def __init__(self, lock=None):
        super().__init__()
        self._lock = lock
        self._commands = {}

    def add(self, name, function, lock=True, substitute=True, urgent=False, exposed=True):
        """Add (or replace) command *name*, run by *function* as declared (see :class:`Command`)."""
        self._install({name: Command(function, lock, substitute, urgent, exposed)})

    def command(self, name):
        """The :class:`Command` for *name*, or None when there is no such command."""
        if not isinstance(name, str):
            return None
        return self._commands.get(name)

    def _install(self, commands):
        """Add the :class:`Command` objects of dict *commands*."""
        self._check_change()
        for name in commands:
            if not isinstance(name, str):
                raise TypeError("a command name must be a string, not {!r}".format(name))
        self._commands.update(commands)
        super().update((name, command.function) for name, command in commands.items())

    def _check_change(self):
        if self._lock is not None and self._lock.held():
            raise PermissionError("commands cannot be changed from inside a command; "
                                  "the host program adds and removes them")

    def __setitem__(self, name, function):
        self.add(name, function)

    def update(self, *args, **kwargs):
        """Add every command given, as ``dict.update`` takes them; none is added if one is not callable."""
        self._install({name: Command(function) for name, function in dict(*args, **kwargs).items()})

    def setdefault(self, name, function=None):
        if name not in self:
            self.add(name, function)
        return self[name]

    def __ior__(self, other):
        self.update(other)
        return self

    def __delitem__(self, name):
        self._check_change()
        super().__delitem__(name)
        del self._commands[name]

    def pop(self, name, *default):
        self._check_change()
        self._commands.pop(name, None)
        return super().pop(name, *default)

    def popitem(self):
        self._check_change()
        name, function = super().popitem()
        del self._commands[name]
        return name, function

    def clear(self):
        self._check_change()
        super().clear()
        self._commands.clear()


def _positional_then_any(inspect, *names):
    """The signature ``(self, <names>, /, *args, **kwargs)``: *names* by position, then any arguments.

    For the methods that take ``self`` from ``*args`` so that any keyword,
    ``self`` and *names* included, reaches the code they call.
    """
    kinds = inspect.Parameter
    leading = [kinds(name, kinds.POSITIONAL_ONLY) for name in ("self",) + names]
    return inspect.Signature(leading + [kinds("args", kinds.VAR_POSITIONAL), kinds("kwargs", kinds.VAR_KEYWORD)])


class Companion:
    """A namespace plus the commands ``get``, ``exists``, ``init``, ``run``, ``try``,
    ``register``, ``store``, ``ping`` and ``describe``.

    Methods for the caller: :meth:`dispatch` runs one command (the one entry
    point of servers); :meth:`is_urgent` says whether a command is answered at
    once. ``commands`` is this Companion's :class:`CommandTable`: add a command
    with ``companion.commands["hello"] = fn``. ``lock`` is the
    :class:`CompanionLock` every command but ``ping`` runs under.
    """

    def __init__(self, namespace=None, allow_import=None):
        """*allow_import*: module prefixes targets may import from (None: any); see :class:`Resolver`."""
        self.namespace = {"companion": self}
        if namespace:
            self.namespace.update(namespace)
        self.resolver = Resolver(self.namespace, allow_import)
        self.lock = CompanionLock()
        self.commands = CommandTable(self.lock)
        own = self.commands.add
        own("get", self.resolve, exposed=False)
        own("exists", self.exists, substitute=False, exposed=False)
        own("init", self.initialize, substitute=False, exposed=False)
        own("run", self.call, substitute=False, exposed=False)
        own("try", self.attempt, substitute=False, exposed=False)
        own("register", self.register, exposed=False)
        own("store", self.store, exposed=False)
        own("ping", self.ping, lock=False, substitute=False, urgent=True, exposed=False)
        own("describe", self.describe, substitute=False, exposed=False)

    def dispatch(self, command, args=(), kwargs=None, stream=False):
        """Run protocol command *command* with its arguments and return its result.

        The arguments are checked against the command's signature first; then,
        as the command declares, the Companion lock is taken and string
        arguments ``"$path"`` (at any depth) are replaced by namespace objects.
        An iterator result (a generator, ``map``...) becomes the list of its
        items, read under the lock, if it has at most ``ITERATOR_ITEMS``; with
        *stream* it is returned as it is, for the caller to read under the lock.
        """
        entry = self.commands.command(command)
        if entry is None:
            raise CommandError("unknown command {!r}; known commands: {}".format(
                command, ", ".join(sorted(self.commands))))
        args = list(args)
        kwargs = {} if kwargs is None else kwargs
        entry.check(command, args, kwargs)
        if not entry.lock:
            return self._invoke(entry, args, kwargs, stream)
        if self.lock.held():
            raise _reentry_error()
        with self.lock:
            return self._invoke(entry, args, kwargs, stream)

    @staticmethod
    def is_iterator(result):
        """Whether a command's *result* is an iterator to read (a generator, ``map``...), not a file."""
        return isinstance(result, _ITERATORS) and not isinstance(result, io.IOBase)

    def _invoke(self, entry, args, kwargs, stream=False):
        """Call *entry*'s function, substituting ``$`` references first if it declares so."""
        if entry.substitute:
            args = self.substitute(args)
            kwargs = self.substitute(kwargs)
        if entry.exposed:
            result = call_exposed(entry.function, *args, **kwargs)
        else:
            result = entry.function(*args, **kwargs)
        if not stream and self.is_iterator(result):
            return _items(result)
        return result

    def is_urgent(self, command):
        """Whether *command* is answered at once, ahead of queued commands and without the lock: ``ping``."""
        entry = self.commands.command(command)
        return entry is not None and entry.urgent

    def substitute(self, value):
        """Replace ``"$path"`` strings in *value* (lists and dicts at any depth) by namespace objects.

        A string starting with ``$`` that is not reference syntax (``"$5.00 each"``) stays as it is.
        """
        if isinstance(value, str):
            if value.startswith("$$"):
                return value[1:]
            if value.startswith("$") and self.resolver.is_reference(value[1:]):
                return self.resolver.resolve_name(value[1:])
            return value
        if isinstance(value, list):
            if _SCALARS.issuperset(map(type, value)):
                return value
            return [self.substitute(item) for item in value]
        if isinstance(value, dict):
            return {key: self.substitute(item) for key, item in value.items()}
        return value

    def actualize(self, arg):
        """One argument as a command receives it: ``"$path"`` strings replaced (see :meth:`substitute`)."""
        return self.substitute(arg)

    def resolve(self, target):
        """``get(target)``: the object *target* points to; a string is resolved, anything else is taken as it is."""
        if isinstance(target, str):
            return self.resolver.resolve(target)
        return target

    def exists(self, target):
        """Whether *target* (or ``"$name"``) resolves; never raises."""
        if isinstance(target, str) and target.startswith("$") and self.resolver.is_reference(target[1:]):
            try:
                self.resolver.resolve_name(target[1:])
            except Exception:
                return False
            return True
        return isinstance(target, str) and self.resolver.exists(target)

    # initialize, call and attempt take self from *args (the stdlib's pre-3.8 idiom), so that
    # any keyword, ``self`` and ``name`` included, reaches the called code. As in liaison-py,
    # they replace ``$`` references in what they are given themselves, so Python callers get
    # that too; their commands declare no substitution, so it happens once.

    def initialize(*args, **kwargs):
        """``init(name, cls, *args, **kwargs)``: build ``cls(*args, **kwargs)`` and store it under *name*."""
        self, args = args[0], args[1:]
        name, cls, args = _leading("init", args, "name", "cls")
        _check_name("init", name)
        cls = self.resolve(self.actualize(cls))
        if not callable(cls):
            raise CommandError("init: {!r} is not a class or callable".format(cls))
        self.namespace[name] = call_exposed(cls, *self.actualize(args), **self.actualize(kwargs))
        return name

    initialize._leading = ("name", "cls")

    def call(*args, **kwargs):
        """``run(fcn, *args, **kwargs)``: call *fcn* and return what it returns."""
        self, args = args[0], args[1:]
        fcn, args = _leading("run", args, "fcn")
        fcn = self.resolve(self.actualize(fcn))
        if not callable(fcn):
            raise CommandError("run: {!r} is not callable; use get to read a value".format(fcn))
        return call_exposed(fcn, *self.actualize(args), **self.actualize(kwargs))

    call._leading = ("fcn",)

    def attempt(*args, **kwargs):
        """``try(fcn, *args, **kwargs)``: like run, but report failure (a bad ``$`` reference too) as a value."""
        self, args = args[0], args[1:]
        try:
            return {"success": True, "result": self.call(*args, **kwargs)}
        except Exception as error:
            return {"success": False, "result": error}

    attempt._leading = ("fcn",)

    # The protocol's names, which Python callers of liaison-backend 0.1 use.
    get = resolve
    init = initialize
    run = call

    def register(self, name, target):
        """Store the object *target* points to under *name* (its ``__name__`` when name is null)."""
        obj = self.resolve(target)
        if name is None:
            name = getattr(obj, "__name__", None)
            if not isinstance(name, str):
                raise CommandError("register: {!r} has no __name__; give a name".format(obj))
        _check_name("register", name)
        self.namespace[name] = obj
        return name

    def store(self, name, value):
        """Store *value* under *name*."""
        _check_name("store", name)
        self.namespace[name] = value
        return name

    def ping(self):
        """Answer ``"pong"``: a cheap liveness check."""
        return "pong"

    def describe(self, target=None):
        """What *target* is and how to call it; with no target, every command with its signature.

        The target goes through ``$`` substitution and the resolver as for get.
        """
        if target is None:
            return {"commands": {name: {"signature": _text(self.commands.command(name).signature()),
                                        "doc": _first_paragraph(function)}
                                 for name, function in sorted(self.commands.items())}}
        if not isinstance(target, str):
            raise CommandError("describe: a target must be a string such as 'math:sqrt' or '$name', not {!r}".format(
                target))
        return _description(self.resolve(self.actualize(target)), target)


_ITERATORS = collections.abc.Iterator


def _items(iterator):
    """The list of *iterator*'s items (read as called code), or CommandError if there are over ``ITERATOR_ITEMS``.

    A generator read only in part is closed, so its ``finally`` runs.
    """
    try:
        items = call_exposed(list, itertools.islice(iterator, ITERATOR_ITEMS + 1))
    finally:
        if isinstance(iterator, types.GeneratorType):
            call_exposed(iterator.close)
    if len(items) > ITERATOR_ITEMS:
        raise CommandError("the result is an iterator of more than {} items, too many to send as a list; "
                           "ask for its items one by one (\"stream\": true in the request), or return a list "
                           "or a slice of it (itertools.islice)".format(ITERATOR_ITEMS))
    return items


def _description(obj, target):
    """The ``describe`` answer for *obj*, reached through the string *target*."""
    if isinstance(obj, types.ModuleType):
        kind, name = "module", obj.__name__
    else:
        kind = "class" if isinstance(obj, type) else "function" if callable(obj) else "value"
        name = _qualified_name(obj) if kind != "value" else target
    signature = None
    if callable(obj):
        try:
            signature = _signature(obj)
        except (TypeError, ValueError):
            pass
    description = {
        "kind": kind,
        "name": name,
        "signature": _text(signature),
        "parameters": None if signature is None else [_parameter(p) for p in signature.parameters.values()],
        "doc": _first_paragraph(obj),
    }
    if kind in ("module", "class"):
        description["members"] = sorted(member for member in dir(obj) if not member.startswith("_"))
    return description


def _qualified_name(obj):
    """``module:qualname`` for a class or callable, the form targets take; its ``repr`` when it has no qualname."""
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(qualname, str):
        return repr(obj)
    module = getattr(obj, "__module__", None) or "builtins"
    return "{}:{}".format(module, qualname)


def _parameter(parameter):
    """One parameter as data: name and kind (``inspect``'s names), default and annotation when it has them."""
    data = {"name": parameter.name, "kind": parameter.kind.name}
    if parameter.default is not parameter.empty:
        data["default"] = parameter.default
    if parameter.annotation is not parameter.empty:
        annotation = parameter.annotation
        data["annotation"] = annotation if isinstance(annotation, str) else _inspect().formatannotation(annotation)
    return data


def _text(signature):
    """A signature as text, or None."""
    return None if signature is None else str(signature)


def _first_paragraph(obj):
    """The first paragraph of *obj*'s docstring as one line, or None when it has none."""
    doc = _inspect().getdoc(obj)
    if not doc or not doc.strip():
        return None
    paragraph = _PARAGRAPH_BREAK.split(doc.strip(), 1)[0]
    return " ".join(line.strip() for line in paragraph.splitlines())


def _leading(command, args, *names):
    """Split the required leading positional arguments *names* from the rest of *args*."""
    if len(args) < len(names):
        missing = ", ".join(names[len(args):])
        raise CommandError("{}: missing argument(s) {}; usage: {}({}, *args, **kwargs)".format(
            command, missing, command, ", ".join(names)))
    return tuple(args[:len(names)]) + (list(args[len(names):]),)


def _check_name(command, name):
    """Namespace names must be identifiers, so that ``$name`` and targets can refer to them."""
    if not isinstance(name, str) or not name.isidentifier():
        raise CommandError("{}: a name must be an identifier string such as 'data_1', not {!r}".format(
            command, name))
