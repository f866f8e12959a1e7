"""Turn target strings such as ``os.path:join`` or ``obj.items[0]["key"]`` into objects.

No ``eval``: a target is parsed into a root and a chain of attribute, key and
index steps, and each step is taken with ``getattr`` or ``[]``.
"""
import importlib
import json
import re
import sys
import types

from .security import ImportPolicy

__all__ = ["PolicyError", "ResolveError", "Resolver", "parse_path"]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_STEP = re.compile(
    r"\.(?P<attr>" + _NAME + r")"
    r"|\[\s*(?P<index>-?\d+)\s*\]"
    r"|\[\s*(?P<key>\"(?:[^\"\\]|\\.)*\"|'[^']*')\s*\]"
)
_ROOT = re.compile(_NAME)
_MODULE = re.compile(_NAME + r"(?:\." + _NAME + r")*\Z")


class ResolveError(LookupError):
    """A target string that does not point to an object; the message names the failing part."""


class PolicyError(ResolveError):
    """A target the import policy refuses: a module outside the allowed trees, or a ``_`` name."""


def parse_path(path):
    """Split ``name.attr["key"][0]`` into its root name and a list of ``(kind, value)`` steps."""
    root = _ROOT.match(path)
    if root is None:
        raise ResolveError("{!r} is not a valid target: it must start with a name".format(path))
    steps = []
    pos = root.end()
    while pos < len(path):
        match = _STEP.match(path, pos)
        if match is None:
            raise ResolveError(
                "{!r} is not a valid target: cannot parse {!r}; use name.attr, name[\"key\"] or name[0]".format(
                    path, path[pos:]))
        if match.group("attr") is not None:
            steps.append(("attr", match.group("attr")))
        elif match.group("index") is not None:
            steps.append(("item", int(match.group("index"))))
        else:
            steps.append(("item", _unquote(match.group("key"))))
        pos = match.end()
    return root.group(), steps


def _unquote(literal):
    """The text of a quoted key: JSON escapes in double quotes, verbatim in single quotes."""
    if literal.startswith('"'):
        return json.loads(literal)
    return literal[1:-1]


def _describe(prefix, steps):
    """Rebuild the text of a path, for error messages."""
    text = prefix
    for kind, value in steps:
        if kind == "attr":
            text += value if text.endswith(":") else "." + value
        else:
            text += "[" + json.dumps(value) + "]"
    return text


class Resolver:
    """Resolve targets against a namespace (a dict), falling back to importable modules.

    With *allow_import* (module prefixes), targets may import only modules in
    those trees and may not take attributes whose names start with ``_``; see
    :class:`~liaison.security.ImportPolicy`. ``None`` allows everything.
    """

    def __init__(self, namespace, allow_import=None):
        self.namespace = namespace
        self.import_policy = None if allow_import is None else ImportPolicy(allow_import)

    def resolve(self, target):
        """Return the object *target* points to, or raise :class:`ResolveError`."""
        if not isinstance(target, str):
            raise ResolveError("a target must be a string, not {}".format(type(target).__name__))
        if ":" in target:
            module_name, _, path = target.partition(":")
            if not _MODULE.match(module_name):
                raise ResolveError("{!r} is not a valid module name in target {!r}".format(module_name, target))
            obj = self.import_module(module_name)
            if not path:
                return obj
            root, steps = parse_path(path)
            return self.walk(obj, module_name + ":", [("attr", root)] + steps)
        root, steps = parse_path(target)
        if root in self.namespace:
            return self.walk(self.namespace[root], root, steps)
        return self._resolve_dotted(target, root, steps)

    def resolve_name(self, path):
        """Resolve a path that must start with a name in the namespace (the ``$name`` form)."""
        if ":" in path:
            raise ResolveError("${} is not a namespace path: a $ reference names a stored object; "
                               "register {!r} under a name first".format(path, path))
        root, steps = parse_path(path)
        if root not in self.namespace:
            raise ResolveError("no name {!r} in the namespace; store or register it first".format(root))
        return self.walk(self.namespace[root], root, steps)

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
            return importlib.import_module(name)
        except ModuleNotFoundError as error:
            raise ResolveError("no module named {!r}".format(error.name or name))

    def walk(self, obj, prefix, steps):
        """Take each step from *obj*; *prefix* is the text of the path so far, for errors."""
        for index, (kind, value) in enumerate(steps):
            obj = self.step(obj, kind, value, _describe(prefix, steps[:index + 1]))
        return obj

    def step(self, obj, kind, value, where):
        """One attribute or item access, with an error naming *where* it failed."""
        if kind == "attr":
            if self.import_policy is not None and not self.import_policy.allows_attribute(value):
                raise PolicyError("cannot resolve {}: the import policy refuses names starting with '_'".format(
                    where))
            try:
                found = getattr(obj, value)
            except AttributeError:
                raise ResolveError("cannot resolve {}: {} has no attribute {!r}".format(
                    where, _type_name(obj), value))
        else:
            try:
                found = obj[value]
            except (LookupError, TypeError) as error:
                raise ResolveError("cannot resolve {}: {} has no item {!r} ({}: {})".format(
                    where, _type_name(obj), value, type(error).__name__, error))
        if self.import_policy is not None and isinstance(found, types.ModuleType):
            self._check_reached_module(obj, value, found, where)
        return found

    def _check_reached_module(self, parent, attr, module, where):
        """Refuse a module reached through another object (``json:os``) unless it is in an allowed tree.

        A submodule counts under its import name, so ``os:path`` is ``os.path``, not ``posixpath``.
        """
        names = [getattr(module, "__name__", None)]
        if isinstance(parent, types.ModuleType):
            alias = "{}.{}".format(parent.__name__, attr)
            if sys.modules.get(alias) is module:
                names.append(alias)
        if not any(isinstance(name, str) and self.import_policy.allows_module(name) for name in names):
            raise PolicyError("cannot resolve {}: it is module {!r}, outside the allowed module trees {}".format(
                where, names[-1], self.import_policy.describe()))

    def _refused_module(self, name):
        """The error for a module outside the allowed trees."""
        return PolicyError("importing {!r} is refused: targets may import only from the module trees {}".format(
            name, self.import_policy.describe()))

    def _resolve_dotted(self, target, root, steps):
        """Resolve like ``pkgutil.resolve_name``: the longest importable module prefix, then attributes.

        Under an import policy, only allowed modules and the packages above them are imported.
        """
        policy = self.import_policy
        if policy is not None and not (policy.allows_module(root) or policy.leads_to_allowed(root)):
            raise self._refused_module(root)
        try:
            obj = importlib.import_module(root)
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
            try:
                obj = importlib.import_module(candidate)
            except ModuleNotFoundError as error:
                if error.name != candidate:
                    raise ResolveError("no module named {!r} (needed by {!r})".format(error.name, candidate))
                break
            module_name = candidate
            taken += 1
        if policy is not None and not policy.allows_module(module_name):
            raise self._refused_module(module_name)
        return self.walk(obj, module_name, steps[taken:])


def _type_name(obj):
    """A short description of *obj*'s type for error messages."""
    if isinstance(obj, type):
        return "class {!r}".format(obj.__qualname__)
    if type(obj).__name__ == "module":
        return "module {!r}".format(obj.__name__)
    return "{!r} object".format(type(obj).__name__)
