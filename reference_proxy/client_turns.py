"""A correct variant in which the proxy owns turn detection (defect name `client-turn-detection`, breaks nothing).

It turns the service's server VAD off (`turn_detection: null`, AUD-1) and decides the end of each utterance
itself: by energy in the client's audio (speech.EndOfSpeech: speech, then 500 ms of silence) or, when the
client stops sending, by a timer after its last audio frame. It commits only with at least 100 ms appended since
the last commit, whoever made it (ORD-5), and answers the committed user item once the service confirmed it
(ORD-1), never while a response is active (queued until response.done: TURN-1, ORD-4). Several defects are this
variant with one decision changed.
"""

from __future__ import annotations

from voice_harness.reference_proxy.session import Action, Session, StartTimer, ToUpstream
from voice_harness.reference_proxy.speech import EndOfSpeech

BYTES_PER_MS = 48        # PCM16 mono at 24 kHz: what _audio_appended is given


class ClientTurnDetection(Session):
    # How long after the client's last audio frame the utterance counts as ended (the microphone went off).
    end_of_speech_after_s = 0.5
    # ORD-5: the least audio a commit may hold.
    min_commit_ms = 100
    # A commit needs speech heard since the last one (silence alone is no turn).
    needs_speech = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._speech = EndOfSpeech()
        self._appended = 0       # bytes appended since the last commit (ours or the service's)
        self._frames = 0         # audio frames appended; each one's timer supersedes the last one's
        self._spoken_items: set[str] = set()   # committed user items not yet confirmed

    def _turn_detection(self) -> dict | None:
        return None

    def _audio_appended(self, pcm: bytes) -> list[Action]:
        self._appended += len(pcm)
        self._frames += 1
        ended = self._speech.feed(pcm)
        return (self._end_of_utterance() if ended else []) + \
            [StartTimer(f"commit:{self._frames}", self.end_of_speech_after_s)]

    def on_timer(self, key: str) -> list[Action]:
        kind, _, frame = key.partition(":")
        if kind != "commit":
            return super().on_timer(key)
        if self.closed or frame != str(self._frames):
            return []    # a later frame came: its own timer decides
        return self._end_of_utterance()

    def _end_of_utterance(self) -> list[Action]:
        """The utterance ended (silence, or no more audio): commit it if it is one."""
        if (self.needs_speech and not self._speech.heard) or not self._appended or \
                self._appended < self.min_commit_ms * BYTES_PER_MS:
            return []
        return self._commit()

    def _commit(self) -> list[Action]:
        self._appended = 0
        self._speech.reset()
        return [ToUpstream({"type": "input_audio_buffer.commit"})]

    def _upstream_input_audio_buffer_committed(self, event: dict) -> list[Action]:
        """The buffer was committed: its user item is answered once the service confirmed it (ORD-1)."""
        self._appended = 0
        item_id = event.get("item_id")
        if isinstance(item_id, str):
            self._awaiting_confirmation.add(item_id)
            self._spoken_items.add(item_id)
        return []

    def _on_item_confirmed(self, item: dict) -> list[Action]:
        # A spoken turn confirmed while a response is already queued is answered by that response: the service
        # answers the whole conversation, so one response.create serves every turn waiting for it.
        item_id = item.get("id")
        if item_id in self._spoken_items:
            self._spoken_items.discard(item_id)
            if self._response_active and self._responses_wanted:
                self._awaiting_confirmation.discard(item_id)
                return []
        return super()._on_item_confirmed(item)
