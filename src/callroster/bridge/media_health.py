"""Whether a leg's media has a problem that lasts, for the roster's ``media_problem``.

Pure: :meth:`MediaHealth.check` takes the leg's RTP counters and ``now`` once a second and
says what the problem is, if any. A glitch is not a problem; these are, once they last:

- ``cannot_send``: the socket refuses the packets for this leg (an address it cannot reach,
  ICMP errors, a full buffer) for :data:`SEND_FAILING_FOR` seconds;
- ``media_from_elsewhere``: nothing has come from the leg's media address for
  :data:`QUIET_FOR` seconds while packets keep coming to its port from somewhere else that
  the leg did not latch to (see rtp/latch.py): usually a NAT the bridge could not follow;
- ``nothing_received``: nothing at all has come for :data:`QUIET_FOR` seconds although the
  phone has not put us on hold: one-way audio, or a phone whose media cannot reach us.

Phones that stop sending in silence without comfort noise would show ``nothing_received``
after :data:`QUIET_FOR` seconds of it; most send comfort noise, which counts as received.
"""

from __future__ import annotations

from callroster.bridge.rtp_session import RtpCounters

SEND_FAILING_FOR = 2.0
QUIET_FOR = 10.0
CHECK_EVERY = 1.0  # seconds between checks (the media tick's once-a-second pass)


class MediaHealth:
    """One leg's media, judged from its counters once a second."""

    def __init__(self, now: float) -> None:
        self.problem: str | None = None
        self._received = self._failures = self._strangers = 0
        self._heard_at = now  # when something last came from the leg
        self._failing_since: float | None = None
        self._strangers_at: float | None = None  # when strangers last sent to its port

    def check(self, counters: RtpCounters, now: float, *, expecting: bool) -> str | None:
        """The leg's problem now (None: none). ``expecting``: whether the leg should be
        sending us media (it is in the call and has not put us on hold)."""
        if counters.received != self._received or not expecting:
            self._heard_at = now
        if counters.from_strangers != self._strangers:
            self._strangers_at = now
        if counters.send_failures != self._failures:
            if self._failing_since is None:
                self._failing_since = now - CHECK_EVERY
        else:
            self._failing_since = None
        self._received = counters.received
        self._failures = counters.send_failures
        self._strangers = counters.from_strangers
        quiet = now - self._heard_at >= QUIET_FOR
        if self._failing_since is not None and now - self._failing_since >= SEND_FAILING_FOR:
            self.problem = "cannot_send"
        elif quiet and self._strangers_at is not None and now - self._strangers_at < QUIET_FOR:
            self.problem = "media_from_elsewhere"
        elif quiet:
            self.problem = "nothing_received"
        else:
            self.problem = None
        return self.problem
