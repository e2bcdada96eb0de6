"""The live venue as the broker sees it: the session's state, and the account and positions
the broker last reported for the account the venue trades (compare with `/account` and
`/positions`, the gateway's own books)."""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.datastructures import State

from gateway.auth import guards as role_guards
from gateway.auth.identity import AuthUser
from gateway.auth.tokens import TokenClaims
from gateway.errors import ApiError
from gateway.services import ServicesDependency
from gateway.venues import BrokerLink
from gateway.venues.broker_view import BrokerView
from shared.store import Role


class VenueController(Controller):
    path = "/api/v1/venue"
    guards = [role_guards.viewer]  # noqa: RUF012  (Litestar reads class attributes)
    tags = ["trading"]  # noqa: RUF012

    @get(
        "",
        summary="The live venue: session state, and the broker's account and positions",
        description=(
            "For the owner of the account the live venue (CTP) trades, and for admins. The "
            "broker's figures are refreshed at every log-in and its positions after every "
            "fill; `reported_at` says when it last answered. 404 without a live venue."
        ),
    )
    async def venue(
        self, request: Request[AuthUser, TokenClaims, State], services: ServicesDependency
    ) -> BrokerView:
        venue, trading = services.venue, services.trading
        if not isinstance(venue, BrokerLink) or trading is None:
            raise ApiError(404, "no_live_venue", f"the venue here is {venue.name!r}, not a broker")
        owner = trading.desk.owner_of(venue.account_id)
        user = request.user
        if owner != user.id and user.role is not Role.ADMIN:
            raise ApiError(404, "no_live_venue", "the live venue trades none of your accounts")
        return venue.broker_view()
