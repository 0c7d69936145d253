"""Log lines of the long-running commands (``serve``, ``worker``): OpenDEMS's own loggers go
to standard error beside uvicorn's, at INFO and with the same level prefix, so an operator
sees what the server did on its own (a bucket created, the search index caught up, a job
cancelled, a broker unreachable) and every warning and error with its level."""

from __future__ import annotations

import copy
import logging.config


def configure_logs() -> None:
    """uvicorn's logging configuration with OpenDEMS's loggers added, applied now (before
    anything logs on a thread of its own) and once: applied again, it replaces the handlers,
    and a line logged meanwhile is lost."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["opendems"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    logging.config.dictConfig(config)
