"""Which user owns an account: looked up once, and an account opened here is known at once,
even if an event for it came (and found no owner) before it was opened."""

from __future__ import annotations

from typing import Any

from gateway.ws.owners import AccountOwners


class _Session:
    def __init__(self, lookups: list[str]) -> None:
        self._lookups = lookups

    async def __aenter__(self) -> _Session:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    async def scalar(self, query: Any) -> int | None:
        self._lookups.append(str(query))
        return None  # no account in the database


async def test_an_account_opened_here_is_known_at_once() -> None:
    lookups: list[str] = []
    owners = AccountOwners(lambda: _Session(lookups))  # type: ignore[arg-type, return-value]
    assert await owners.owner_of("000001") is None  # the venue's state, before the account
    assert await owners.owner_of("000001") is None  # remembered as unknown for a while
    assert len(lookups) == 1
    owners.learn("000001", 7)
    assert await owners.owner_of("000001") == 7
    assert len(lookups) == 1
