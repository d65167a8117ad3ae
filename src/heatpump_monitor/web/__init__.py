"""The dashboard: web UI and JSON API over the stored snapshots, in one ASGI app.

:func:`create_app` builds the app over a store (a :class:`~heatpump_monitor.config.StoreConfig`
or a reader factory); :func:`serve` runs it with uvicorn for ``heatpump-monitor serve``;
:func:`running_dashboard` serves it inside an ``async with`` (demo, tests) and
:class:`DashboardThread` from a background thread (synchronous tests, benchmarks).
"""

from .app import Limits, create_app, dashboard_secrets
from .serve import DashboardThread, running_dashboard, serve, store_description

__all__ = ["DashboardThread", "Limits", "create_app", "dashboard_secrets", "running_dashboard",
           "serve", "store_description"]
