"""Importing the third-party packages behind liaison's optional extras."""
import importlib

__all__ = ["require"]


def require(module, package, extra, needed_by):
    """Import *module*, or raise ModuleNotFoundError saying which extra installs its *package*."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as missing:
        if missing.name != module:
            raise
        raise ModuleNotFoundError("{} needs the {} package: pip install 'liaison-backend[{}]'".format(
            needed_by, package, extra), name=module)
