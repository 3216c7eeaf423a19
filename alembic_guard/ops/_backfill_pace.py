"""How fast a backfill goes: the size of its next batch and the pause after each batch.

Two small feedback rules, both fed by the duration of the batch just run (no extra query):

* **Batch size → a target duration.** A batch holds row locks on its rows until it commits, so
  its *duration* — not its row count — is what an application update waiting for one of those rows
  sees. After each batch the next size is scaled by ``batch_target_ms`` / the batch's duration (at
  most ×2 and at least ×½ per step, within ``1 … max_batch_size`` rows); a batch slower than
  ``batch_max_ms`` is followed at once by a batch sized to take the target. ``batch_target_ms = 0``
  keeps ``batch_size`` fixed.
* **Duty cycle → contention.** After a batch of *t* s the backfill sleeps *t* × (1 − d) / d, so
  batches take at most the share *d* of wall time. *d* starts at ``duty_cycle`` and drops towards
  ``min_duty_cycle`` when batches cost more per row than the reference cost (a smoothed current
  cost is compared with it): when the server gets busier the same rows take longer, and the
  backfill then leaves it more idle time. Slowdowns up to ``TOLERANCE`` (2×) are noise and change
  nothing; beyond that *d* = ``duty_cycle`` × 2 / slowdown, never below ``min_duty_cycle``.

  The reference is the lowest cost per row of the first five batches, and then follows the
  smoothed cost slowly (weight ``DRIFT``) as long as the slowdown is within the tolerance; it is
  frozen while the backfill is throttled. Why: a backfill's own cost per row grows as it goes, on
  a quiet server too, because every non-HOT update inserts index entries next to the dead ones
  that earlier (committed) batches left, and PostgreSQL's bottom-up index deletion then visits the
  heap to remove them (``heap_index_delete_tuples`` was 38% of the backend's CPU in a profile of
  batched updates, 18% for the same rows in one transaction). Measured on the benchmark's table:
  about 70 µs per row in the first tenth of the run, 90–100 µs midway. With a fixed reference that drift read
  as contention and the backfill slept a fifth of its run on an idle server. A sudden slowdown
  (the server got busy) still crosses the tolerance within a few batches, and a slowdown that
  lasts keeps the reference where it was. The drift is capped at ``MAX_DRIFT`` (3×) the first
  reference, so contention that builds up slowly is absorbed only that far and then throttled.

``batch_pause_ms`` stays a floor on the pause (for replicas / vacuum).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import Settings

#: slowdowns (current cost per row / reference) up to this are taken as noise
TOLERANCE = 2.0
#: batches whose lowest cost per row is the reference
REFERENCE_BATCHES = 5
#: weight of the newest batch in the smoothed cost per row
SMOOTHING = 0.3
#: weight of the smoothed cost in the reference, per batch, while not throttled (slow drift)
DRIFT = 0.05
#: the reference never drifts past this multiple of the first one (2.7× was the own drift seen over a
#: long backfill on an idle server; beyond that a slow rise is taken as contention)
MAX_DRIFT = 3.0


@dataclass
class BatchPace:
    """The pace of one backfill (sizes in rows, durations in seconds). ``size`` is the next batch's
    size; call :meth:`after` with each batch's rows and duration, it returns the pause (s)."""

    size: int
    target_s: float
    max_s: float
    max_size: int
    pause_s: float
    duty_max: float
    duty_min: float
    duty: float = 1.0
    reference: float | None = None  # s per row
    first_reference: float | None = None  # the reference after REFERENCE_BATCHES (s per row)
    cost: float | None = None  # smoothed s per row
    batches: int = 0

    @classmethod
    def from_settings(cls, s: Settings) -> BatchPace:
        duty_min = min(s.min_duty_cycle, s.duty_cycle)
        return cls(size=s.batch_size, target_s=s.batch_target_ms / 1000, max_s=s.batch_max_ms / 1000,
                   max_size=max(s.max_batch_size, s.batch_size if not s.batch_target_ms else 1),
                   pause_s=s.batch_pause_ms / 1000, duty_max=s.duty_cycle, duty_min=duty_min, duty=s.duty_cycle)

    @property
    def slowdown(self) -> float:
        """Smoothed cost per row / the reference cost (1.0 until known)."""
        if not self.reference or self.cost is None:
            return 1.0
        return self.cost / self.reference

    def after(self, rows: int, seconds: float) -> float:
        """Account for a batch of ``rows`` rows walked in ``seconds``; set the next ``size`` and
        ``duty``; return the pause to sleep before the next batch (s)."""
        self.batches += 1
        if rows > 0 and seconds > 0:
            per_row = seconds / rows
            self.cost = per_row if self.cost is None else SMOOTHING * per_row + (1 - SMOOTHING) * self.cost
            if self.batches <= REFERENCE_BATCHES:
                self.reference = per_row if self.reference is None else min(self.reference, per_row)
            elif self.reference is not None and self.slowdown <= TOLERANCE:
                # the backfill's own cost drifts as it goes (bottom-up index deletion of the dead
                # entries of earlier batches): follow that slowly, but not a slowdown past the tolerance
                if self.first_reference is None:
                    self.first_reference = self.reference
                self.reference = min(MAX_DRIFT * self.first_reference,
                                      DRIFT * self.cost + (1 - DRIFT) * self.reference)
        self._resize(seconds)
        slow = self.slowdown
        self.duty = self.duty_max if slow <= TOLERANCE else max(self.duty_min, self.duty_max * TOLERANCE / slow)
        return max(self.pause_s, seconds * (1 - self.duty) / self.duty)

    def _resize(self, seconds: float) -> None:
        if not self.target_s or seconds <= 0:
            return
        if self.max_s and seconds > self.max_s:
            size = self.size * self.target_s / seconds  # straight to what would have taken the target
        else:
            size = self.size * min(2.0, max(0.5, self.target_s / seconds))
        self.size = max(1, min(self.max_size, int(size)))

    def shrink(self) -> int:
        """Halve the batch size (after a statement_timeout); returns the new size."""
        self.size = max(1, self.size // 2)
        return self.size
