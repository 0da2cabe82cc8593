"""`pml relay`: publish change events to Redis Streams and deliver them to webhooks."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Annotated

import typer


def relay(
    consumer: Annotated[
        str | None, typer.Option(help="this relay's consumer name in the group (default: host name)")
    ] = None,
    poll_interval: Annotated[
        float, typer.Option(min=0.01, max=60, help="seconds between polls when idle")
    ] = 0.2,
    webhooks: Annotated[bool, typer.Option(help="also fan out to and send webhooks")] = True,
) -> None:
    """Relay committed list changes from the outbox to Redis Streams (in order per patient) and webhooks."""
    from pml.cli import database_url
    from pml.events.runner import RelayNotConfigured, RelayOptions, run_relay
    from pml.settings import get_settings

    logging.basicConfig(
        level=os.environ.get("PML_LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s"
    )
    settings = get_settings()
    options = RelayOptions(
        consumer=consumer or socket.gethostname(), poll_seconds=poll_interval, webhooks=webhooks
    )
    try:
        asyncio.run(run_relay(settings, database_url(settings), options))
    except RelayNotConfigured as error:
        typer.echo(f"pml relay: {error}", err=True)
        raise typer.Exit(2) from None
