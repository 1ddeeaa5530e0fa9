"""`create_app(settings)`: the only place that wires plugins, routers and background jobs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar, Router
from litestar.config.compression import CompressionConfig
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.types import ControllerRouterHandler

from app import __version__, root
from app.admin.queue_routes import AdminQueueController
from app.admin.routes import AdminController
from app.checkout.routes import checkout_router
from app.config import Settings
from app.dialects.opencheckout import OpenCheckoutController
from app.dialects.ovgc import OvgcController
from app.dialects.routes import dialect_routes
from app.edge import refuse_unstorable
from app.errors import AppError
from app.health import health
from app.http import (
    Services,
    app_error_handler,
    http_exception_handler,
    internal_error_handler,
    provide_db_session,
    provide_settings,
)
from app.jobs import Job, JobRunner
from app.observability import RequestContextMiddleware, metrics
from app.orders import fast_lane
from app.orders.fast_create import close_order_creator
from app.orders.routes import ServiceOrdersController
from app.payments.routes import UserApiController
from app.rates.jobs import rate_jobs
from app.realtime.routes import order_socket
from app.refunds.routes import refund_claim_router
from app.security.rate_limit import RateLimitMiddleware
from app.sessions.routes import CheckoutSessionsController, session_link_router
from app.workers import default_jobs

log = logging.getLogger("app")


def create_app(
    settings: Settings,
    *,
    run_jobs: bool = False,
    extra_jobs: Callable[[Services], list[Job]] | None = None,
    extra_routes: Sequence[ControllerRouterHandler] = (),
) -> Litestar:
    """The app; with `run_jobs`, the background jobs (and `extra_jobs`, e.g. chain watchers)
    run in-process, which is what makes one `serve` a whole shop."""
    services, channels = root.web_services(settings)
    engine = services.engine

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        jobs = default_jobs(services) + (extra_jobs(services) if extra_jobs else [])
        # Every process that quotes keeps its own rate book fresh, even with --api-only.
        runner = JobRunner((jobs if run_jobs else []) + rate_jobs(services))
        await runner.start()
        try:
            yield
        finally:
            await runner.stop()
            await close_order_creator(app.state)
            await services.limiter.close()
            await engine.dispose()

    compression = CompressionConfig(backend="gzip", minimum_size=1024)
    user_api = Router(
        path="/",
        route_handlers=[UserApiController, order_socket],
        middleware=[
            DefineMiddleware(
                RateLimitMiddleware,
                name="user",
                limit_of=lambda s: s.security.user_rate_limit_per_minute,
            )
        ],
    )

    app = Litestar(
        route_handlers=[
            ServiceOrdersController,
            CheckoutSessionsController,
            OpenCheckoutController,
            OvgcController,
            session_link_router(),
            refund_claim_router(),
            AdminController,
            AdminQueueController,
            user_api,
            health,
            metrics,
            checkout_router(
                Path(settings.checkout.frontend_dir) if settings.checkout.frontend_dir else None
            ),
            *dialect_routes(settings),
            *extra_routes,
        ],
        dependencies={
            "db_session": Provide(provide_db_session),
            "settings": Provide(provide_settings, sync_to_thread=False),
        },
        exception_handlers={
            AppError: app_error_handler,
            HTTPException: http_exception_handler,
            Exception: internal_error_handler,
        },
        before_request=refuse_unstorable,
        plugins=[channels],
        cors_config=CORSConfig(
            allow_origins=settings.merchant.allowed_origins or [],
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Ocrch-Signed-Url", "Ocrch-Signature", "Content-Type"],
            max_age=600,
        )
        if settings.merchant.allowed_origins
        else None,
        openapi_config=OpenAPIConfig(
            title="stablecheckout",
            version=__version__,
            description="Stablecoin checkout server, wire-compatible with Open Crypto Checkout.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
        ),
        state=State({"services": services}),
        lifespan=[lifespan],
        middleware=[RequestContextMiddleware],
        compression_config=compression,
        logging_config=None,
        debug=False,
    )
    fast_lane.install(app, compress_from=compression.minimum_size)
    return app
