"""Dispatchers: call a registered function inline, on Dramatiq workers or on AWS Lambda."""

from __future__ import annotations

from typing import TYPE_CHECKING

from functions.dispatch._port import Dispatcher
from functions.dispatch.inline import InlineDispatcher

if TYPE_CHECKING:
    from functions.deps import Deps
    from shared.config import Settings


def open_dispatcher(settings: Settings, deps: Deps) -> Dispatcher:
    """The dispatcher ``settings.dispatcher`` names, not yet started: ``await start()`` it."""
    match settings.dispatcher:
        case "inline":
            return InlineDispatcher(
                deps, workers=settings.inline_workers, timeout_s=settings.function_timeout_s
            )
        case "dramatiq":
            # Imported on demand: Dramatiq and boto3 are slow to import and not always needed.
            from functions.dispatch.dramatiq import DramatiqDispatcher  # noqa: PLC0415

            return DramatiqDispatcher(settings, deps)
        case "lambda":
            from functions.dispatch.aws_lambda import LambdaDispatcher  # noqa: PLC0415

            return LambdaDispatcher(settings, deps)


__all__ = ["Dispatcher", "InlineDispatcher", "open_dispatcher"]
