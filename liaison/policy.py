"""Which modules and names a target may reach: the import policy, a pure check with no I/O.

A :class:`~liaison.resolve.Resolver` asks an :class:`ImportPolicy` about each
module it would import and each step of each target.
"""

__all__ = ["ImportPolicy"]


def _is_module_prefix(prefix):
    """Whether *prefix* is a dotted module name such as ``math`` or ``mypackage.api``."""
    return isinstance(prefix, str) and all(part.isidentifier() for part in prefix.split("."))


class ImportPolicy:
    """Which module trees targets may import, and no access to names starting with ``_``.

    A guard-rail against mistakes and casual abuse, not a sandbox: objects an
    allowed module hands out (functions it imported from elsewhere, frames,
    globals reachable without underscores) are not followed.
    """

    def __init__(self, prefixes):
        prefixes = [prefixes] if isinstance(prefixes, str) else list(prefixes)
        for prefix in prefixes:
            if not _is_module_prefix(prefix):
                raise ValueError("{!r} is not a module prefix; give a dotted module name such as "
                                 "'math' or 'mypackage.api'".format(prefix))
        self.prefixes = tuple(prefixes)

    def __repr__(self):
        return "ImportPolicy({!r})".format(list(self.prefixes))

    def allows_module(self, name):
        """Whether module *name* lies in an allowed tree, with no ``_`` name below the prefix."""
        for prefix in self.prefixes:
            if name == prefix:
                return True
            if name.startswith(prefix + "."):
                below = name[len(prefix) + 1:].split(".")
                if not any(part.startswith("_") for part in below):
                    return True
        return False

    def leads_to_allowed(self, name):
        """Whether importing *name* is on the way to an allowed module (a parent package of a prefix)."""
        return any(prefix.startswith(name + ".") for prefix in self.prefixes)

    def allows_step(self, name):
        """Whether a target may take attribute or key *name*: never a name starting with ``_``.

        Keys count as much as attributes: ``f.__globals__["__builtins__"]`` is two
        ways to the same place, and a getter handed out by an allowed module
        (``operator.attrgetter``) can take the first step for a client.
        """
        return not (isinstance(name, str) and name.startswith("_"))

    def describe(self):
        """The allowed trees, for error messages."""
        return ", ".join(self.prefixes) if self.prefixes else "(none)"
