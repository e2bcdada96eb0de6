"""The lifecycle half of a CTP API stand-in: what a session calls to start and stop the API,
recorded. Request methods are each test's own (a recorder, or a scripted front)."""

from __future__ import annotations

from typing import Any


class ApiLifecycle:
    def __init__(self) -> None:
        self.spi: Any = None
        self.fronts: list[str] = []
        self.topics: list[tuple[str, int]] = []
        self.initialised = False
        self.released = False

    def RegisterSpi(self, spi: Any) -> None:  # noqa: N802 - the library's names
        self.spi = spi

    def RegisterFront(self, front: str) -> None:  # noqa: N802
        self.fronts.append(front)

    def SubscribePrivateTopic(self, mode: int) -> None:  # noqa: N802
        self.topics.append(("private", mode))

    def SubscribePublicTopic(self, mode: int) -> None:  # noqa: N802
        self.topics.append(("public", mode))

    def Init(self) -> None:  # noqa: N802
        self.initialised = True

    def Release(self) -> None:  # noqa: N802
        self.released = True
