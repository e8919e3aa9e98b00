import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from leads import services
from leads.models import Lead
from leads.stages import Stage
from tests.factories import LeadFactory

BERLIN = ZoneInfo("Europe/Berlin")
# A Monday; the factories' calendar works Monday to Friday, 9 to 17, Berlin time.
MONDAY_10 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=BERLIN)


def at(day_offset: int, hour: int, minute: int = 0) -> dt.datetime:
    """Berlin wall-clock time `day_offset` days after Monday 2 March 2026."""
    day = MONDAY_10.date() + dt.timedelta(days=day_offset)
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=BERLIN)


def ready_lead(**kwargs) -> Lead:
    """An engaged lead that meets its criteria set's MQL definition."""
    kwargs.setdefault("stage", Stage.ENGAGED)
    return LeadFactory(**kwargs)


def make_mql(when: dt.datetime = MONDAY_10, **kwargs) -> Lead:
    """A lead made an MQL by the system at `when`, routed by the rules."""
    lead = ready_lead(**kwargs)
    return services.qualify_mql(lead=lead, at=when).lead


@pytest.fixture
def queued_emails(monkeypatch):
    """E-mails the code queued after commit, collected instead of sent through Redis."""
    from routing import tasks

    queued: list[int] = []
    monkeypatch.setattr(tasks.send_notification_email, "delay", queued.append)
    return queued
