"""What a function may use besides its request. Built per runtime from settings.

Everything here must work from any event loop and any thread: the inline runtime runs
handlers on worker threads, Dramatiq and Lambda in their own processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.objects import ObjectStore, open_object_store

if TYPE_CHECKING:
    from shared.config import Settings


@dataclass(frozen=True, slots=True)
class Deps:
    settings: Settings
    objects: ObjectStore


def build_deps(settings: Settings) -> Deps:
    return Deps(settings=settings, objects=open_object_store(settings))
