"""Turn target strings such as ``os.path:join`` or ``obj.items[0]["key"]`` into objects.

No ``eval``: a target is parsed into a root and a chain of attribute, key and
index steps, and each step is taken with ``getattr`` or ``[]``. Names are
whatever ``str.isidentifier()`` accepts (``données``), as for stored names.
"""
import importlib
import json
import operator
import re
import sys
import types

from .interrupt import call_exposed
from .policy import ImportPolicy

__all__ = ["PolicyError", "ResolveError", "Resolver", "parse_path"]

#: A name: a run of anything but whitespace and ASCII punctuation other than ``_``; checked with isidentifier().
_NAME = r"[^\s!-/:-@\[-\^`{-~]+"
#: Longer indices are refused on every Python, as CPython 3.11's int() refuses them.
_MAX_INDEX_DIGITS = 4300
_STEP = re.compile(
    r"\.(?P<attr>" + _NAME + r")"
    r"|\[\s*(?P<index>-?[0-9]{1," + str(_MAX_INDEX_DIGITS) + r"})\s*\]"
    r"|\[\s*(?P<key>\"(?:[^\"\\]|\\.)*\"|'[^']*')\s*\]"
)
_ROOT = re.compile(_NAME)


class ResolveError(LookupError):
    """A target string that does not point to an object; the message names the failing part."""


class PolicyError(ResolveError):
    """A target the import policy refuses: a module outside the allowed trees, or a ``_`` name."""


class _StepFailed(Exception):
    """Why one step of a path failed; :meth:`Resolver.walk` turns it into an error naming the path."""

    def __init__(self, error_class, reason):
        super().__init__(reason)
        self.error_class = error_class
        self.reason = reason


def parse_path(path):
    """Split ``name.attr["key"][0]`` into its root name and a list of ``(kind, value)`` steps."""
    root, steps, stop = _scan(path)
    if root is None:
        raise ResolveError("{!r} is not a valid target: it must start with a name".format(path))
    if stop < len(path):
        raise ResolveError(
            "{!r} is not a valid target: cannot parse {!r}; use name.attr, name[\"key\"] or name[0]".format(
                path, path[stop:]))
    return root, [(kind, _step_value(kind, value, path)) for kind, value in steps]


def _scan(path):
    """Read ``path`` as far as it follows the grammar: ``(root, raw steps, where reading stopped)``.

    *root* is None when *path* does not start with a name. Quoted keys are left
    as written, so that scanning never fails on an escape.
    """
    root = _ROOT.match(path)
    if root is None or not root.group().isidentifier():
        return None, [], 0
    steps = []
    pos = root.end()
    while pos < len(path):
        match = _STEP.match(path, pos)
        if match is None:
            break
        kind = match.lastgroup
        if kind == "attr" and not match.group(kind).isidentifier():
            break
        steps.append(("attr" if kind == "attr" else "item", match.group(kind)))
        pos = match.end()
    return root.group(), steps, pos


def _step_value(kind, text, path):
    """The name, index or key a scanned step stands for."""
    if kind == "attr":
        return text
    if text[0] == "'":
        return text[1:-1]
    if text[0] != '"':
        return int(text)
    try:
        return json.loads(text)
    except ValueError as error:
        raise ResolveError(
            "{!r} is not a valid target: the key {} is not a JSON string ({}); double-quoted keys take "
            "JSON escapes such as \\u0041, single-quoted keys are taken as written".format(path, text, error))


def _split_module(target):
    """``(module, path)`` when *target* has the form ``module:path``, else None.

    A ``:`` after a ``[`` belongs to a key (``cfg["http://x"]``), not to a module name.
    """
    module_name, colon, path = target.partition(":")
    if colon and "[" not in module_name:
        return module_name, path
    return None


def _is_module_name(name):
    """Whether *name* is a dotted module name such as ``os.path``."""
    return all(part.isidentifier() for part in name.split("."))


def _describe(prefix, steps):
    """Rebuild the text of a path, for error messages."""
    text = prefix
    for kind, value in steps:
        if kind == "attr":
            text += value if text.endswith(":") else "." + value
        else:
            text += "[" + json.dumps(value, ensure_ascii=False) + "]"
    return text


class Resolver:
    """Resolve targets against a namespace (a dict), falling back to importable modules.

    With *allow_import* (module prefixes), targets may import only modules in
    those trees and may take no attribute or key whose name starts with ``_``;
    see :class:`~liaison.policy.ImportPolicy`. ``None`` allows everything.
    """

    def __init__(self, namespace, allow_import=None):
        self.namespace = namespace
        self.import_policy = None if allow_import is None else ImportPolicy(allow_import)

    def resolve(self, target):
        """Return the object *target* points to, or raise :class:`ResolveError`."""
        if not isinstance(target, str):
            raise ResolveError("a target must be a string, not {}".format(type(target).__name__))
        module = _split_module(target)
        if module is not None:
            module_name, path = module
            if not _is_module_name(module_name):
                raise ResolveError("{!r} is not a valid module name in target {!r}".format(module_name, target))
            obj = self.import_module(module_name)
            if not path:
                return obj
            root, steps = parse_path(path)
            return self.walk(obj, module_name + ":", [("attr", root)] + steps)
        root, steps = parse_path(target)
        if root in self.namespace:
            return self.walk(self.namespace[root], root, steps)
        return self._resolve_dotted(root, steps)

    def resolve_name(self, path):
        """Resolve a path that must start with a name in the namespace (the ``$name`` form)."""
        if _split_module(path) is not None:
            raise ResolveError("${} is not a namespace path: a $ reference names a stored object; "
                               "register {!r} under a name first".format(path, path))
        root, steps = parse_path(path)
        if root not in self.namespace:
            raise ResolveError("no name {!r} in the namespace; store or register it first".format(root))
        return self.walk(self.namespace[root], root, steps)

    @staticmethod
    def is_reference(path):
        """Whether the string ``"$" + path`` is meant as a reference, not as data.

        A reference is a namespace path (``p``, ``p.tags["a:b"][0]``) or, to be
        refused with a hint, a ``module:attr`` target. Anything else that starts
        with ``$`` (``"$5.00 each"``, ``"$ x"``) is data, as liaison-py takes it.
        """
        module = _split_module(path)
        if module is not None:
            module_name, path = module
            if not _is_module_name(module_name):
                return False
        root, _, stop = _scan(path)
        return root is not None and stop == len(path)

    def exists(self, target):
        """Whether *target* resolves; never raises."""
        try:
            self.resolve(target)
        except Exception:
            return False
        return True

    def import_module(self, name):
        """Import a module by its dotted name, with an error that says which module is missing."""
        if self.import_policy is not None and not self.import_policy.allows_module(name):
            raise self._refused_module(name)
        try:
            return _import(name)
        except ModuleNotFoundError as error:
            raise ResolveError("no module named {!r}".format(error.name or name))

    def walk(self, obj, prefix, steps):
        """Take each step from *obj*; *prefix* is the text of the path so far, for errors."""
        for index, (kind, value) in enumerate(steps):
            try:
                obj = self._step(obj, kind, value)
            except _StepFailed as failure:
                raise failure.error_class("cannot resolve {}: {}".format(
                    _describe(prefix, steps[:index + 1]), failure.reason)) from None
        return obj

    def _step(self, obj, kind, value):
        """One attribute or item access, under the import policy."""
        policy = self.import_policy
        if policy is not None and not policy.allows_step(value):
            raise _StepFailed(PolicyError, "the import policy refuses names starting with '_'")
        if kind == "attr":
            try:
                found = call_exposed(getattr, obj, value)
            except AttributeError:
                raise _StepFailed(ResolveError, "{} has no attribute {!r}".format(_type_name(obj), value))
        else:
            try:
                found = call_exposed(operator.getitem, obj, value)
            except (LookupError, TypeError) as error:
                raise _StepFailed(ResolveError, "{} has no item {!r} ({}: {})".format(
                    _type_name(obj), value, type(error).__name__, error))
        if getattr(type(found), "_unreachable_by_targets", False):
            raise _StepFailed(PolicyError, "it is liaison's own {} object, which commands may not reach; "
                              "use liaison.send, liaison.current_client() or liaison.connected_clients() "
                              "instead".format(type(found).__name__))
        if policy is not None and isinstance(found, types.ModuleType):
            self._check_reached_module(obj, value, found)
        return found

    def _check_reached_module(self, parent, attr, module):
        """Refuse a module reached through another object (``json:os``) unless it is in an allowed tree.

        A submodule counts under its import name, so ``os:path`` is ``os.path``, not ``posixpath``.
        """
        names = [getattr(module, "__name__", None)]
        if isinstance(parent, types.ModuleType):
            alias = "{}.{}".format(parent.__name__, attr)
            if sys.modules.get(alias) is module:
                names.append(alias)
        if not any(isinstance(name, str) and self.import_policy.allows_module(name) for name in names):
            raise _StepFailed(PolicyError, "it is module {!r}, outside the allowed module trees {}".format(
                names[-1], self.import_policy.describe()))

    def _refused_module(self, name):
        """The error for a module outside the allowed trees."""
        return PolicyError("importing {!r} is refused: targets may import only from the module trees {}".format(
            name, self.import_policy.describe()))

    def _resolve_dotted(self, root, steps):
        """Resolve like ``pkgutil.resolve_name``: the longest module prefix, then attributes.

        Which dotted prefix is a module is decided by :func:`_submodule`. Under an
        import policy, only allowed modules and the packages above them are imported.
        """
        policy = self.import_policy
        if policy is not None and not (policy.allows_module(root) or policy.leads_to_allowed(root)):
            raise self._refused_module(root)
        try:
            obj = _import(root)
        except ModuleNotFoundError as error:
            if error.name != root:
                raise ResolveError("no module named {!r} (needed by {!r})".format(error.name, root))
            raise ResolveError(
                "no name {!r} in the namespace and no module named {!r}".format(root, root))
        module_name = root
        taken = 0
        for kind, value in steps:
            if kind != "attr":
                break
            candidate = module_name + "." + value
            if policy is not None and not (policy.allows_module(candidate) or policy.leads_to_allowed(candidate)):
                break
            submodule = _submodule(obj, value, candidate)
            if submodule is None:
                break
            obj = submodule
            module_name = candidate
            taken += 1
        if policy is not None and not policy.allows_module(module_name):
            raise self._refused_module(module_name)
        return self.walk(obj, module_name, steps[taken:])


def _submodule(module, attr, name):
    """Submodule *name* (``module.attr``) if it is one, or None when *attr* is to be taken as an attribute.

    Decided from the state of the moment, so that nothing can go stale: a
    module in ``sys.modules`` under that name is it; a non-package has no
    other submodules; a package attribute that is not a module is taken as
    it is, as ``from package import attr`` takes it (so ``json.dumps`` costs
    what ``json:dumps`` does). Only the rest is asked of the import system.
    """
    if sys.modules.get(name) is None:
        if not hasattr(module, "__path__"):
            return None
        found = getattr(module, attr, None)
        if found is not None and not isinstance(found, types.ModuleType):
            return None
    try:
        return _import(name)
    except ModuleNotFoundError as error:
        if error.name != name:
            raise ResolveError("no module named {!r} (needed by {!r})".format(error.name, name))
        return None


def _import(name):
    """Module *name*: from ``sys.modules`` if imported already, else imported as called code (which a
    ``cancel`` may interrupt: the module's own code runs)."""
    module = sys.modules.get(name)
    if module is not None and getattr(getattr(module, "__spec__", None), "_initializing", False) is False:
        return module
    return call_exposed(importlib.import_module, name)


def _type_name(obj):
    """A short description of *obj*'s type for error messages."""
    if isinstance(obj, type):
        return "class {!r}".format(obj.__qualname__)
    if type(obj).__name__ == "module":
        return "module {!r}".format(obj.__name__)
    return "{!r} object".format(type(obj).__name__)
