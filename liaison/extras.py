"""Importing the third-party packages behind liaison's optional extras."""
import importlib

__all__ = ["MissingExtra", "require"]


class MissingExtra(ModuleNotFoundError):
    """The package behind an optional extra is not installed; the message names the pip command."""


def require(module, package, extra, needed_by):
    """Import *module*, or raise :class:`MissingExtra` saying which extra installs its *package*.

    The error is not chained to the ModuleNotFoundError it replaces, which says less.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as missing:
        if missing.name != module:
            raise
    raise MissingExtra("{} needs the {} package: pip install 'liaison-backend[{}]'".format(
        needed_by, package, extra), name=module)
