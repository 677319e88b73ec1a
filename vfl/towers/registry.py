"""Where tower names lead: built-ins, the ``vfl.towers`` entry-point group, and import paths.

Resolution order for a name:

1. a registered name (the built-ins, registered explicitly in `default_registry`, plus anything
   added with `TowerRegistry.register`);
2. an entry point of the ``vfl.towers`` group (a package exposes its towers in its own
   ``pyproject.toml``; they are loaded only when named);
3. ``"package.module:factory"`` (any name with a colon): the module is imported and the
   attribute after the colon (dots allowed) is the factory.

Importing a module named in a config runs its code: the config is the party's own file and is
trusted like any other code the party runs; nothing received from another party is ever used as
a tower name.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from importlib import metadata

from vfl.errors import TowerError
from vfl.towers.autoencoder import genomics_autoencoder
from vfl.towers.base import TowerFactory
from vfl.towers.cnn import image2d_cnn, image3d_cnn
from vfl.towers.mlp import genomics_mlp, tabular_mlp

__all__ = ["ENTRY_POINT_GROUP", "TowerRegistry", "default_registry"]

logger = logging.getLogger(__name__)

#: The entry-point group third-party packages publish towers under.
ENTRY_POINT_GROUP = "vfl.towers"

_BUILTINS: dict[str, TowerFactory] = {
    "image2d-cnn": image2d_cnn,
    "image3d-cnn": image3d_cnn,
    "genomics-mlp": genomics_mlp,
    "genomics-autoencoder": genomics_autoencoder,
    "tabular-mlp": tabular_mlp,
}


class TowerRegistry:
    """A name → factory table that also looks up entry points and import paths."""

    def __init__(self, factories: dict[str, TowerFactory] | None = None) -> None:
        self._factories: dict[str, TowerFactory] = dict(factories or {})

    def register(self, name: str, factory: TowerFactory) -> None:
        """Add a factory under `name`.

        Raises:
            TowerError: The name is taken, contains a colon, or the factory is not callable.
        """
        if ":" in name or not name:
            raise TowerError(f"tower name {name!r} must be non-empty and contain no ':'")
        if name in self._factories:
            raise TowerError(f"tower {name!r} is already registered")
        if not callable(factory):
            raise TowerError(f"tower {name!r}: factory must be callable")
        self._factories[name] = factory

    def names(self) -> list[str]:
        """Registered names and installed entry-point names, sorted, without duplicates."""
        return sorted(set(self._factories) | {ep.name for ep in _entry_points()})

    def describe_known(self) -> str:
        """The known names as one line, for error messages."""
        return ", ".join(self.names()) + ", or 'package.module:factory'"

    def resolve(self, name: str) -> TowerFactory:
        """Return the factory for `name` (see the module docstring for the order).

        Raises:
            TowerError: Nothing is known by that name, or an import path fails to import or
                does not lead to a callable; the message lists the known towers.
        """
        if name in self._factories:
            return self._factories[name]
        for entry in _entry_points():
            if entry.name == name:
                return self._load_entry_point(entry)
        if ":" in name:
            return self._import_path(name)
        raise TowerError(f"unknown tower {name!r}; known towers: {self.describe_known()}")

    def _load_entry_point(self, entry: metadata.EntryPoint) -> TowerFactory:
        try:
            factory = entry.load()
        except Exception as exc:  # a third-party import may raise anything
            raise TowerError(
                f"tower {entry.name!r}: entry point {entry.value!r} failed to load: "
                f"{type(exc).__name__}: {exc}; known towers: {self.describe_known()}"
            ) from exc
        return self._callable(entry.name, factory)

    def _import_path(self, name: str) -> TowerFactory:
        module_name, _, attr_path = name.partition(":")
        if not module_name or not attr_path:
            raise TowerError(
                f"tower {name!r}: expected 'package.module:factory'; "
                f"known towers: {self.describe_known()}"
            )
        try:
            target: object = importlib.import_module(module_name)
        except Exception as exc:  # ImportError, or anything the module raises on import
            raise TowerError(
                f"tower {name!r}: cannot import module {module_name!r}: "
                f"{type(exc).__name__}: {exc}; known towers: {self.describe_known()}"
            ) from exc
        for attr in attr_path.split("."):
            if not hasattr(target, attr):
                raise TowerError(
                    f"tower {name!r}: module {module_name!r} has no attribute {attr_path!r}; "
                    f"known towers: {self.describe_known()}"
                )
            target = getattr(target, attr)
        return self._callable(name, target)

    def _callable(self, name: str, factory: object) -> TowerFactory:
        if not callable(factory):
            raise TowerError(
                f"tower {name!r}: {type(factory).__name__} is not callable; "
                f"known towers: {self.describe_known()}"
            )
        return factory


def _entry_points() -> Iterable[metadata.EntryPoint]:
    """Installed ``vfl.towers`` entry points, read fresh on each call (cheap; not cached)."""
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def default_registry() -> TowerRegistry:
    """A new registry holding the built-in towers, registered explicitly."""
    registry = TowerRegistry()
    for name, factory in _BUILTINS.items():
        registry.register(name, factory)
    return registry
