"""A market sink that keeps what a venue delivered, for venue tests."""

from __future__ import annotations

from shared.domain import Tick


class RecordingSink:
    def __init__(self) -> None:
        self.ticks: list[Tick] = []
        self.rewinds: list[int] = []  # how many ticks had arrived at each rewind

    def accept(self, tick: Tick) -> None:
        self.ticks.append(tick)

    def rewind(self) -> None:
        self.rewinds.append(len(self.ticks))
