"""Queue work: sending a greeting, and the greeting of the day every five minutes.

A task whose first parameter is `session` runs in its own unit of work (committed when it
returns, rolled back when it raises). Tasks must be idempotent: a retry or a second worker
may run them again, so they check what is already done before doing it.
"""

from __future__ import annotations

import datetime as dt

from openitsm.kernel import crontab, current_kernel, periodic_task, task
from sqlalchemy.orm import Session

from openitsm_hello import service

DAILY_PREFIX = "daily-"


@task(retries=3, retry_delay=30)
def send_greeting(session: Session, greeting_id: int) -> int:
    """Send one greeting; returns how often it has been sent."""
    return service.greet(session, greeting_id).times_greeted


@periodic_task(crontab(minute="*/5"))
def greeting_of_the_day(session: Session) -> int:
    """Keep today's greeting (worded by `[plugins.hello] greeting`); count each round.

    Every worker's scheduler enqueues a periodic task; the kernel keys each run by its
    minute slot, so one round counts once however many workers there are.
    """
    settings = current_kernel().plugins.settings_of("hello")
    name = DAILY_PREFIX + dt.datetime.now(dt.UTC).date().isoformat()
    greeting = service.find_greeting(session, name)
    if greeting is None:
        greeting = service.create_greeting(session, name, settings.greeting)
    return service.greet(session, greeting.id).times_greeted
