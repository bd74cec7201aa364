"""工作日历 (working calendar): office hours, rest days, China's public holidays
and make-up working days (调休), and deadline arithmetic on them.

For the flow engine (no permission check: deployment-wide reference data)::

    from ccms.calendar import deadline, working_elapsed
    due = deadline(session, "default", start, 4, "work_hours")
    used = working_elapsed(session, "default", start, now, "work_hours")   # / 4 -> share of the limit

Units: ``minutes`` (clock minutes), ``work_hours`` (inside office hours of
working days), ``work_days`` (one day = one day's office hours; see
:mod:`core.calendar.compute` for the exact rule). A calendar without working
time raises :class:`ccms.errors.ValidationFailed` (code
``calendar_no_working_time``); an unknown id :class:`ccms.errors.NotFound`.
Writes (audited) are in :mod:`core.calendar.service`.
"""

from .compute import UNITS, Calendar
from .service import DEFAULT_ID, deadline, get_calendar, working_elapsed, working_elapsed_spans

__all__ = ["DEFAULT_ID", "UNITS", "Calendar", "deadline", "get_calendar", "working_elapsed",
           "working_elapsed_spans"]
