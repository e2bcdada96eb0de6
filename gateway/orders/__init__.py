"""The gateway's order management: from a trader's request to the venue and back."""

from gateway.orders.service import (
    OrderFinishedError,
    OrderRefusedError,
    OrderRequest,
    OrderService,
)

__all__ = ["OrderFinishedError", "OrderRefusedError", "OrderRequest", "OrderService"]
