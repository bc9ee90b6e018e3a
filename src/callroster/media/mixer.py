"""The N-1 mixer of one conference: every 20 ms each leg hears everyone else.

Cost grows with the number of talkers and codecs, not with the number of legs. Only legs that
contribute a frame need their own mix (the full mix minus themselves); every other leg hears
the same full mix, which is encoded once per codec and shared. With 100 legs, 3 talkers and
two codecs a tick costs one sum, 3 subtractions and at most 3 + 2 G.711 encodes.

Samples are summed in int32 and saturated to int16 exactly once, at the end. Clipping each
partial sum would make the result depend on the order of the legs: +30000 + 30000 - 30000
clipped after every addition is 2767, where a listener should hear 30000.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import numpy as np
from numpy.typing import NDArray

from callroster.rtp import g711

#: Samples in the 20 ms frame every input and output carries.
FRAME_SAMPLES: Final = g711.FRAME_SAMPLES

_INT16_MIN: Final = np.iinfo(np.int16).min
_INT16_MAX: Final = np.iinfo(np.int16).max


def _frozen(array: NDArray[np.int16]) -> NDArray[np.int16]:
    # Outputs are shared between legs (and cached encodings are derived from them), so a
    # consumer that scribbled on one would corrupt what others hear.
    array.setflags(write=False)
    return array


_SILENT_FRAME: Final = _frozen(np.zeros(FRAME_SAMPLES, dtype=np.int16))


def _frame(frame: object, what: str, leg_id: str = "") -> NDArray[np.int16]:
    """Check that a frame is 160 int16 samples; the decoder/jitter buffer must see to that."""
    array = np.asarray(frame)
    if array.dtype != np.int16 or array.shape != (FRAME_SAMPLES,):
        name = f"{what} {leg_id!r}" if leg_id else what
        raise ValueError(
            f"{name}: expected {FRAME_SAMPLES} int16 samples, got {array.dtype} {array.shape}"
        )
    return array


def _saturate(samples: NDArray[np.int32]) -> NDArray[np.int16]:
    """Clamp to int16 in place (the caller's int32 scratch is spent) and narrow."""
    # minimum/maximum with out= costs half of np.clip on 160-sample frames.
    np.minimum(samples, _INT16_MAX, out=samples)
    np.maximum(samples, _INT16_MIN, out=samples)
    return samples.astype(np.int16)


class MixOutput:
    """What every leg hears for one tick, with lazily encoded and shared payloads.

    Built by :meth:`Mixer.mix`; the frames are read-only because legs share them.

    Attributes:
        common_pcm: the full mix (all contributors plus ``extra``), heard by every leg that is
            neither contributing nor held.
        per_leg_pcm: for each contributing leg only, the mix without its own frame.
        hold_pcm: what held legs hear: the hold music, or silence.
        contributors: the legs whose frames are in the mix, in mixing order.
    """

    def __init__(
        self,
        *,
        codecs: Mapping[str, str],
        held: frozenset[str],
        common_pcm: NDArray[np.int16],
        per_leg_pcm: Mapping[str, NDArray[np.int16]],
        hold_pcm: NDArray[np.int16],
    ) -> None:
        self.common_pcm: Final = common_pcm
        self.per_leg_pcm: Final = MappingProxyType(dict(per_leg_pcm))
        self.hold_pcm: Final = hold_pcm
        self.contributors: Final = tuple(per_leg_pcm)
        self._codecs = codecs
        self._held = held
        self._cache: dict[tuple[str, str], bytes] = {}
        self._encodes = 0

    @property
    def encode_count(self) -> int:
        """How many G.711 encodes this tick has cost so far (silence and cache hits are free)."""
        return self._encodes

    def _source(self, leg_id: str) -> tuple[str, NDArray[np.int16]]:
        """The cache key and frame that a leg hears."""
        if leg_id not in self._codecs:
            raise KeyError(f"no leg {leg_id!r} in this mix")
        if leg_id in self._held:
            return "hold", self.hold_pcm
        own = self.per_leg_pcm.get(leg_id)
        if own is not None:
            return "leg:" + leg_id, own
        return "common", self.common_pcm

    def pcm(self, leg_id: str) -> NDArray[np.int16]:
        """The 160 samples a leg hears this tick (read-only; may be shared with other legs).

        Raises:
            KeyError: if the leg was not in the conference when this tick was mixed.
        """
        return self._source(leg_id)[1]

    def encoded(self, leg_id: str) -> bytes:
        """The G.711 payload for a leg, in its codec.

        Frames shared by several legs (the common mix, hold music) are encoded at most once
        per codec, and an all-zero frame costs no encode at all.

        Raises:
            KeyError: if the leg was not in the conference when this tick was mixed.
        """
        source, frame = self._source(leg_id)
        codec = self._codecs[leg_id]
        key = (source, codec)
        payload = self._cache.get(key)
        if payload is None:
            if frame is _SILENT_FRAME or not frame.any():
                payload = g711.SILENCE[codec]
            else:
                payload = g711.encode(codec, frame)
                self._encodes += 1
            self._cache[key] = payload
        return payload


@dataclass
class _Leg:
    codec: str
    muted: bool = False
    held: bool = False


class Mixer:
    """The audio of one conference: its legs, their mute/hold flags and the per-tick N-1 mix.

    Muted and held legs never contribute. A held leg hears only the hold music. Everyone else
    hears every contributor but themselves, plus the ``extra`` frame (tones, announcements).
    """

    def __init__(self) -> None:
        self._legs: dict[str, _Leg] = {}
        # Snapshots handed to each MixOutput. They are replaced, never mutated, when legs or
        # flags change (rare), so that a tick shares them instead of copying 100 entries.
        self._codecs: Mapping[str, str] = MappingProxyType({})
        self._held: frozenset[str] = frozenset()
        self._silenced: frozenset[str] = frozenset()  # muted or held: never in the mix

    @property
    def leg_ids(self) -> tuple[str, ...]:
        """The legs in the conference, in the order they were added."""
        return tuple(self._legs)

    @property
    def any_held(self) -> bool:
        """Whether any leg is on hold (and so hears the hold music)."""
        return bool(self._held)

    def codec(self, leg_id: str) -> str:
        """The codec a leg is sent in."""
        return self._leg(leg_id).codec

    def is_muted(self, leg_id: str) -> bool:
        """Whether the leg is muted (heard by no one, still hears the conference)."""
        return self._leg(leg_id).muted

    def is_held(self, leg_id: str) -> bool:
        """Whether the leg is on hold (heard by no one, hears only the hold music)."""
        return self._leg(leg_id).held

    def add_leg(self, leg_id: str, codec: str) -> None:
        """Add a leg, unmuted and not held.

        Raises:
            ValueError: if the leg is already in the conference or the codec is not G.711.
        """
        if leg_id in self._legs:
            raise ValueError(f"leg {leg_id!r} is already in the conference")
        if codec not in g711.CODECS:
            raise ValueError(f"unsupported codec {codec!r}; expected one of {g711.CODECS}")
        self._legs[leg_id] = _Leg(codec)
        self._changed()

    def remove_leg(self, leg_id: str) -> None:
        """Remove a leg; its frames are ignored from the next tick on.

        Raises:
            KeyError: if the leg is not in the conference.
        """
        self._leg(leg_id)
        del self._legs[leg_id]
        self._changed()

    def set_muted(self, leg_id: str, muted: bool) -> None:
        """Mute or unmute a leg.

        Raises:
            KeyError: if the leg is not in the conference.
        """
        leg = self._leg(leg_id)
        if leg.muted != muted:  # called every tick; rebuilding the sets is per room, not per leg
            leg.muted = muted
            self._changed()

    def set_held(self, leg_id: str, held: bool) -> None:
        """Put a leg on hold or take it off.

        Raises:
            KeyError: if the leg is not in the conference.
        """
        leg = self._leg(leg_id)
        if leg.held != held:
            leg.held = held
            self._changed()

    def set_flags(self, leg_id: str, *, muted: bool, held: bool) -> None:
        """:meth:`set_muted` and :meth:`set_held` in one step (the bridge's per-tick call).

        Raises:
            KeyError: if the leg is not in the conference.
        """
        leg = self._leg(leg_id)
        if leg.muted != muted or leg.held != held:
            leg.muted, leg.held = muted, held
            self._changed()

    def _leg(self, leg_id: str) -> _Leg:
        try:
            return self._legs[leg_id]
        except KeyError:
            raise KeyError(f"no leg {leg_id!r} in the conference") from None

    def _changed(self) -> None:
        self._codecs = MappingProxyType({k: leg.codec for k, leg in self._legs.items()})
        self._held = frozenset(k for k, leg in self._legs.items() if leg.held)
        self._silenced = frozenset(k for k, leg in self._legs.items() if leg.muted or leg.held)

    def mix(
        self,
        inputs: Mapping[str, NDArray[np.int16] | None],
        hold_music: NDArray[np.int16] | None = None,
        extra: NDArray[np.int16] | None = None,
        talking: Collection[str] | None = None,
    ) -> MixOutput:
        """Mix one 20 ms tick.

        Args:
            inputs: each leg's decoded frame of 160 int16 samples, or None when nothing
                arrived. Legs not in the conference (a late packet after ``remove_leg``) are
                ignored.
            hold_music: the frame held legs hear this tick; None means silence.
            extra: a frame every leg that is not held hears on top of the mix.
            talking: when given, only these legs contribute, so background noise from
                everyone else stays out of the mix (and out of the cost).

        Returns:
            The per-leg outputs; encoding happens on demand in :meth:`MixOutput.encoded`.

        Raises:
            ValueError: if a contributing frame, ``hold_music`` or ``extra`` is not 160 int16
                samples.
        """
        # Walk the smaller set: the talkers when the caller knows them, else the inputs.
        # dict.fromkeys drops a talker listed twice (which would be mixed in twice) and,
        # unlike a set, keeps the caller's order.
        candidates = inputs if talking is None else dict.fromkeys(talking)
        silenced = self._silenced
        codecs = self._codecs
        ids: list[str] = []
        frames: list[NDArray[np.int16]] = []
        for leg_id in candidates:
            if leg_id in silenced or leg_id not in codecs:
                continue
            frame = inputs.get(leg_id)
            if frame is not None:
                ids.append(leg_id)
                frames.append(_frame(frame, "leg", leg_id))

        per_leg: dict[str, NDArray[np.int16]] = {}
        if not frames and extra is None:
            common = _SILENT_FRAME  # the usual tick of a quiet room: nothing to add up
        else:
            total = np.zeros(FRAME_SAMPLES, dtype=np.int32)
            if extra is not None:
                total += _frame(extra, "extra")
            if frames:
                stack = np.array(frames, dtype=np.int32)  # shapes checked above: k x 160
                total += stack.sum(axis=0, dtype=np.int32)
                # Every contributor's N-1 mix at once: (full sum) - (own row), saturated once.
                minus_own = _frozen(_saturate(total - stack))
                per_leg = dict(zip(ids, minus_own, strict=True))
            common = _frozen(_saturate(total))
        if hold_music is None:
            hold = _SILENT_FRAME
        else:
            hold = _frozen(_frame(hold_music, "hold_music").copy())
        return MixOutput(
            codecs=codecs, held=self._held, common_pcm=common, per_leg_pcm=per_leg, hold_pcm=hold
        )
