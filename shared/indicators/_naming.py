"""How an indicator's output columns are named, wherever it is computed (the API, the CLI, the
live bars channel): ``<id>`` for one output, ``<id>.<output>`` for several; the id defaults to
the name and the parameter values, e.g. ``sma_20`` or ``macd_12_26_9.macdsignal``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def _label(value: float) -> str:
    text = str(value) if isinstance(value, int) else f"{value:g}"
    return text.replace(".", "p").replace("-", "m")  # no dots: they separate the outputs


def column_names(
    name: str,
    params: Mapping[str, float],
    outputs: Sequence[str],
    series_id: str | None = None,
) -> list[str]:
    base = series_id or "_".join([name, *(_label(value) for value in params.values())])
    if len(outputs) == 1:
        return [base]
    return [f"{base}.{output}" for output in outputs]
