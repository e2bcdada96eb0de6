"""Each user's saved indicator formulas: checked when saved (an error says what and at which
column), usable as ``{"formula": "@name"}`` wherever an indicator is asked for."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.datastructures import State
from litestar.params import JSONBody, Parameter

from gateway.auth import guards
from gateway.auth.identity import AuthUser
from gateway.auth.tokens import TokenClaims
from gateway.errors import ApiError
from gateway.services import Services, ServicesDependency
from shared.indicators import FormulaError, compile_formula
from shared.store.formulas import FormulaStore, SavedFormula

FormulaName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$")]
RequestT = Request[AuthUser, TokenClaims, State]


class FormulaText(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    expression: Annotated[str, msgspec.Meta(min_length=1, max_length=2_000)]
    description: Annotated[str, msgspec.Meta(max_length=500)] = ""


class NamedFormula(FormulaText, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: FormulaName


class FormulasController(Controller):
    path = "/api/v1/indicators/formulas"
    guards = [guards.viewer]  # noqa: RUF012  (Litestar reads class attributes)
    tags = ["indicators"]  # noqa: RUF012

    @get("", summary="Your saved formulas")
    async def formulas(self, request: RequestT, services: ServicesDependency) -> list[SavedFormula]:
        return await FormulaStore(services.sessions).list(request.user.id)

    @post(
        "",
        summary="Save (or replace) a formula: name, expression, description",
        description="As `PUT /api/v1/indicators/formulas/{name}`, with the name in the body.",
    )
    async def create(
        self, data: JSONBody[NamedFormula], request: RequestT, services: ServicesDependency
    ) -> SavedFormula:
        return await _save(services, request.user.id, data.name, data)

    @put(
        "/{name:str}",
        summary="Save (or replace) a formula under a name",
        description=(
            "The expression is checked first: a mistake is 422 with the column where it is, "
            "e.g. `ema(close, 0)`: `timeperiod must be in 1..100000 (at column 1)`. Use it "
            'in `POST /api/v1/indicators/compute` as `{"formula": "@name"}`.'
        ),
    )
    async def save(
        self,
        name: Annotated[str, Parameter(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$")],
        data: JSONBody[FormulaText],
        request: RequestT,
        services: ServicesDependency,
    ) -> SavedFormula:
        return await _save(services, request.user.id, name, data)

    @delete("/{name:str}", summary="Delete a saved formula", status_code=204)
    async def remove(
        self,
        name: Annotated[str, Parameter(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$")],
        request: RequestT,
        services: ServicesDependency,
    ) -> None:
        if not await FormulaStore(services.sessions).delete(request.user.id, name):
            raise ApiError(404, "unknown_formula", f"no saved formula {name!r}", ["name"])


async def _save(services: Services, user_id: int, name: str, data: FormulaText) -> SavedFormula:
    try:
        compile_formula(data.expression)
    except FormulaError as exc:
        raise ApiError(422, "invalid_formula", f"expression: {exc}", ["expression"]) from None
    return await FormulaStore(services.sessions).save(
        user_id, name, data.expression, data.description, now=services.clock()
    )
