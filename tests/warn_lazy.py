"""A warning class in a module only a worker imports (tests/warn_probe.py, lazily)."""


class LazyWarning(UserWarning):
    """The command never imports this module: it cannot find the class again."""
