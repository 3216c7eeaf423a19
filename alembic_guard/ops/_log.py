"""The one logger of the safe operations.

It is a child of Alembic's own ``alembic`` logger, so the logging section that ``alembic init``
writes into ``alembic.ini`` (root at WARNING, ``alembic`` at INFO, one console handler) shows
the operations' INFO lines — progress, summaries, retries — exactly like Alembic's own
"Running upgrade …" lines, with no change to the project's logging. Progress is not a warning, so
it is logged at INFO; retries and things the operator must act on are WARNING or ERROR.
``logging.config.fileConfig`` (env.py) also leaves children of a configured logger enabled.
"""

from __future__ import annotations

import logging

#: the logger name (``alembic.guard.ops``); configure it like any other logger
LOGGER_NAME = "alembic.guard.ops"

log = logging.getLogger(LOGGER_NAME)
