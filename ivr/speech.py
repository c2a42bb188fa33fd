"""The caller's description of the problem: listen, analyse, store.

Built once per process with the analyzer (model loaded once) and the service that
stores analyses; a flow calls ``describe(ctx)``.  Nothing here may cost the
caller the call: any failure becomes a stored analysis with status ``failed`` and
a reason the agent's pop shows.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, is_dataclass
from typing import Any, Callable, Optional

import anyio

from ivr.capture import ListenSettings, endpoint_detector, listen, listen_remote
from ivr.telephony import ChannelGone

log = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    if is_dataclass(value):
        return asdict(value)
    if isinstance(value, dict):
        return value
    return dict(vars(value))


def analysis_record(analysis: Any) -> dict[str, Any]:
    """What SensitivityService.record_analysis stores, from an asr_models Analysis."""
    return {
        "status": getattr(analysis, "status", "failed"),
        "reason": getattr(analysis, "reason", "") or "",
        "transcript": getattr(analysis, "transcript", "") or "",
        "words": [_plain(w) for w in getattr(analysis, "words", []) or []],
        "model": getattr(analysis, "model", "") or "",
        "suggestions": [_plain(s) for s in getattr(analysis, "suggestions", []) or []],
        "voice": dict((getattr(analysis, "voice", None) or {}).get("profile") or {}),
    }


class SpeechAnalysis:
    def __init__(self, analyzer: Any, store: Callable[..., Any], settings: ListenSettings,
                 unavailable_reason: str = "",
                 endpoint_factory: Callable[[ListenSettings], Any] = endpoint_detector,
                 voice_history: Optional[Callable[[int], list]] = None, workers: Any = None):
        self._analyzer = analyzer
        # ivr.speech_workers.SpeechWorkers: listening and decoding in worker processes
        # (asr.worker_processes); without it, in this process (threads).
        self._workers = workers
        self._store = store  # SensitivityService.record_analysis(ticket_id, **record)
        self.settings = settings
        self.unavailable_reason = unavailable_reason
        self._endpoint_factory = endpoint_factory
        self._voice_history = voice_history  # SensitivityService.voice_history(ticket_id)
        self._decode_limiter: Any = None

    async def _run_decode(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Decoding gets threads of its own: a burst of database work (which also
        runs in threads) must not hold back the audio of every caller speaking."""
        if self._decode_limiter is None:
            self._decode_limiter = anyio.CapacityLimiter(self.settings.decoder_threads)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._decode_limiter)

    @property
    def available(self) -> bool:
        return self._analyzer is not None or self._workers is not None

    async def _baseline(self, ctx) -> list:
        """The customer's earlier voice profiles (empty: the population baseline)."""
        if self._voice_history is None or ctx.ticket_id is None:
            return []
        try:
            from asr_models.voice import VoiceProfile

            rows = await ctx.run_sync(self._voice_history, ctx.ticket_id)
            return [VoiceProfile(**row) for row in rows]
        except Exception:  # noqa: BLE001 - without history the population baseline is used
            log.exception("call %s: the caller's voice history could not be read", ctx.channel_id)
            return []

    async def describe(self, ctx) -> Optional[dict[str, Any]]:
        """Listen to the caller (if speech analysis is available) and store the
        analysis on the ticket.  Returns the stored record; raises ChannelGone
        only when the caller hung up."""
        if not self.available:
            record = {"status": "failed", "reason": self.unavailable_reason or "speech analysis is off",
                      "transcript": "", "words": [], "model": "", "suggestions": []}
        else:
            try:
                baseline = await self._baseline(ctx)
                if self._workers is not None:
                    analysis = (await listen_remote(ctx, self._workers, self.settings, baseline)).analysis
                else:
                    analysis = await listen(ctx, self._analyzer, self.settings, self._endpoint_factory,
                                            self._run_decode, baseline)
                record = analysis_record(analysis)
            except ChannelGone:
                log.info("call %s: caller left while describing the problem", ctx.channel_id)
                raise
            except Exception as exc:  # noqa: BLE001 - the call goes on without suggestions
                log.exception("call %s: speech analysis failed", ctx.channel_id)
                record = {"status": "failed", "reason": f"recognition error: {type(exc).__name__}: {exc}"[:300],
                          "transcript": "", "words": [], "model": "", "suggestions": []}
        if ctx.ticket_id is not None:
            try:
                await ctx.run_sync(self._store, ctx.ticket_id, **record)
            except Exception:
                log.exception("call %s: could not store the speech analysis", ctx.channel_id)
        return record
