"""Alerts (issue 14): rules over the stored snapshots, their state across restarts and the
owner's messages (``rules``, ``state``, ``messages``, ``settings``: *what* to say), and their
delivery (``notify``: apprise, imported only by whoever sends; ``outbox``: durable, retried).

Wiring: ``engine = AlertEngine(parse_alert_settings(doc.get("alerts")), brand_of,
store=AlertStore(alerts_path(ALERTS_DIR, owner)), gateways=...)``; then ``engine.observe(snapshot)``
for each stored snapshot and ``engine.tick(now_ms)`` once a tick; each :class:`Notice` goes
through :func:`message` to the delivery queue.
"""

from .messages import MAX_CHARS, Message, message
from .rules import COLLECTOR, AlertEngine, Notice
from .settings import RULES, AlertSettings, parse_alert_settings
from .state import HISTORY_ROWS, ActiveAlert, AlertStore, alert_files, alerts_path

__all__ = ["COLLECTOR", "HISTORY_ROWS", "MAX_CHARS", "RULES", "ActiveAlert", "AlertEngine", "AlertSettings", "AlertStore",
           "Message", "Notice", "alert_files", "alerts_path", "message", "parse_alert_settings"]
