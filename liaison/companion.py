"""The Companion: a namespace of Python objects and the commands that act on it.

It knows nothing of transports or JSON: a server hands it a command name with
arguments and gets a Python result back, or an exception.
"""
import inspect
import threading

from .resolve import Resolver

__all__ = ["Companion", "CommandError"]


#: JSON value types that never hold a ``"$path"``; lists of only these are passed on untouched, at C speed.
_SCALARS = frozenset((int, float, bool, type(None)))


class CommandError(ValueError):
    """A request the Companion cannot carry out as asked: unknown command or bad arguments."""


class Companion:
    """A namespace plus the commands ``get``, ``exists``, ``init``, ``run``, ``try``,
    ``register``, ``store`` and ``ping``.

    ``dispatch`` runs one command at a time under a lock; ``ping`` skips the lock
    so that it is answered at once even while a long command runs.
    """

    #: Protocol name -> method name; ``try`` is a keyword in Python.
    commands = {
        "get": "get",
        "exists": "exists",
        "init": "init",
        "run": "run",
        "try": "attempt",
        "register": "register",
        "store": "store",
        "ping": "ping",
    }

    def __init__(self, namespace=None, allow_import=None):
        """*allow_import*: module prefixes targets may import from (None: any); see :class:`Resolver`."""
        self.namespace = {"companion": self}
        if namespace:
            self.namespace.update(namespace)
        self.resolver = Resolver(self.namespace, allow_import)
        self.lock = threading.Lock()
        self._signatures = {}

    def dispatch(self, command, args=(), kwargs=None):
        """Run protocol command *command* with its arguments and return its result.

        String arguments ``"$path"`` (at any depth) are replaced by the namespace
        object they name; ``"$$text"`` stands for the literal ``"$text"``.
        """
        method = self._method(command)
        kwargs = {} if kwargs is None else kwargs
        if command == "ping":
            return self.call(method, command, list(args), kwargs)
        with self.lock:
            if command == "exists":
                return self.call(method, command, list(args), kwargs)
            return self.call(method, command, self.substitute(list(args)), self.substitute(kwargs))

    def call(self, method, command, args, kwargs):
        """Call *method*, first checking the arguments fit so that a mistake is reported by name."""
        try:
            self._signature(command, method).bind(*args, **kwargs)
        except TypeError as error:
            raise CommandError("{}: {}; usage: {}".format(command, error, self.usage(command)))
        return method(*args, **kwargs)

    def _signature(self, command, method):
        """The signature of *command*'s method, worked out once: ``inspect.signature`` is slow."""
        signature = self._signatures.get(command)
        if signature is None:
            signature = self._signatures[command] = inspect.signature(method)
        return signature

    def usage(self, command):
        """A one-line description of *command*'s arguments, for error messages."""
        return command + str(self._signature(command, self._method(command)))

    def _method(self, command):
        if not isinstance(command, str) or command not in self.commands:
            raise CommandError("unknown command {!r}; known commands: {}".format(
                command, ", ".join(sorted(self.commands))))
        return getattr(self, self.commands[command])

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

    def target(self, target):
        """The object a target stands for: a string is resolved, anything else is taken as it is."""
        if isinstance(target, str):
            return self.resolver.resolve(target)
        return target

    def get(self, target):
        """The value *target* points to."""
        return self.target(target)

    def exists(self, target):
        """Whether *target* (or ``"$name"``) resolves; never raises."""
        if isinstance(target, str) and target.startswith("$") and self.resolver.is_reference(target[1:]):
            try:
                self.resolver.resolve_name(target[1:])
            except Exception:
                return False
            return True
        return isinstance(target, str) and self.resolver.exists(target)

    # init, run and try take self from *args (the stdlib's pre-3.8 idiom), so that
    # any keyword, ``self`` and ``name`` included, reaches the called code.

    def init(*args, **kwargs):
        """``init(name, cls, *args, **kwargs)``: build ``cls(*args, **kwargs)`` and store it under *name*."""
        self, args = args[0], args[1:]
        name, cls, args = _leading("init", args, "name", "cls")
        _check_name("init", name)
        cls = self.target(cls)
        if not callable(cls):
            raise CommandError("init: {!r} is not a class or callable".format(cls))
        self.namespace[name] = cls(*args, **kwargs)
        return name

    def run(*args, **kwargs):
        """``run(fcn, *args, **kwargs)``: call *fcn* and return what it returns."""
        self, args = args[0], args[1:]
        fcn, args = _leading("run", args, "fcn")
        fcn = self.target(fcn)
        if not callable(fcn):
            raise CommandError("run: {!r} is not callable; use get to read a value".format(fcn))
        return fcn(*args, **kwargs)

    def attempt(*args, **kwargs):
        """``try(fcn, *args, **kwargs)``: like run, but report failure as a value, not an error."""
        self, args = args[0], args[1:]
        try:
            return {"success": True, "result": self.run(*args, **kwargs)}
        except Exception as error:
            return {"success": False, "result": error}

    def register(self, name, target):
        """Store the object *target* points to under *name* (its ``__name__`` when name is null)."""
        obj = self.target(target)
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


def _leading(command, args, *names):
    """Split the required leading positional arguments *names* from the rest of *args*."""
    if len(args) < len(names):
        missing = ", ".join(names[len(args):])
        raise CommandError("{}: missing argument(s) {}; usage: {}({}, *args, **kwargs)".format(
            command, missing, command, ", ".join(names)))
    return tuple(args[:len(names)]) + (args[len(names):],)


def _check_name(command, name):
    """Namespace names must be identifiers, so that ``$name`` and targets can refer to them."""
    if not isinstance(name, str) or not name.isidentifier():
        raise CommandError("{}: a name must be an identifier string such as 'data_1', not {!r}".format(
            command, name))

