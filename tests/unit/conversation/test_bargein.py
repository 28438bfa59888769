"""Barge-in policy on a virtual clock: pause at onset, then resume or discard."""

from __future__ import annotations

from callbot.clock import VirtualClock
from callbot.turn.bargein import BargeInArbiter, SpeechPolicy, Verdict, is_backchannel

START = 1000.0


class Call:
    """An arbiter driven by a virtual media clock, 20 ms a step."""

    def __init__(self) -> None:
        self.clock = VirtualClock(START)
        self.arbiter = BargeInArbiter()
        self.verdicts: list[tuple[int, Verdict]] = []

    @property
    def ms(self) -> int:
        return round((self.clock.now() - START) * 1000)

    def run(self, ms: int, *, voiced: bool = True, onset: bool = False) -> None:
        for _ in range(ms // 20):
            self.clock.advance(0.02)
            self.note(self.arbiter.on_time(self.ms, voiced=voiced, onset=onset))

    def onset(self, policy: SpeechPolicy | None = None) -> None:
        self.note(
            self.arbiter.on_onset(self.ms, bot_speaking=True, policy=policy or SpeechPolicy())
        )

    def note(self, v: Verdict) -> None:
        if v is not Verdict.NONE:
            self.verdicts.append((self.ms, v))

    def begin(self, uid: str = "u1", policy: SpeechPolicy | None = None) -> None:
        self.note(self.arbiter.on_speech_begin(
            uid, self.ms, self.ms, bot_speaking=True, policy=policy or SpeechPolicy()))  # fmt: skip

    def end(self, start: int, uid: str = "u1") -> None:
        self.note(self.arbiter.on_speech_end(uid, start, self.ms, self.ms))

    def text(self, text: str, *, final: bool, uid: str = "u1") -> None:
        self.note(self.arbiter.on_transcript(uid, text, final=final, now_ms=self.ms))


def test_a_backchannel_pauses_then_resumes_where_it_paused() -> None:
    c = Call()
    c.run(2000)
    c.begin()
    c.run(400)
    c.end(2000)
    c.run(300)
    c.text("Uh-huh.", final=True)
    assert c.verdicts == [(2000, Verdict.PAUSE), (2700, Verdict.RESUME)]
    assert c.arbiter.swallows("u1") and not c.arbiter.paused
    assert c.arbiter.last is not None and c.arbiter.last.decision_ms == 2700


def test_a_backchannel_resumes_though_its_endpoint_comes_after_700_ms() -> None:
    # The VAD hears 400 ms of "uh-huh"; the utterance only ends with the endpoint,
    # 800 ms of silence later. The short voice, not the late endpoint, counts.
    c = Call()
    c.run(2000)
    c.begin()
    c.run(400)
    c.run(800, voiced=False)
    c.note(c.arbiter.on_speech_end("u1", 2000, 2400, c.ms))  # voice 2000-2400, said at 3200
    c.run(200, voiced=False)
    c.text("Uh-uh.", final=True)
    assert c.verdicts == [(2000, Verdict.PAUSE), (3400, Verdict.RESUME)]


def test_speech_longer_than_the_backchannel_window_discards_at_700_ms() -> None:
    c = Call()
    c.run(5500)
    c.begin()
    c.run(2000)
    assert c.verdicts == [(5500, Verdict.PAUSE), (6220, Verdict.DISCARD)]
    assert not c.arbiter.swallows("u1")


def test_content_in_a_partial_discards_without_waiting() -> None:
    c = Call()
    c.begin()
    c.run(300)
    c.text("I want to", final=False)
    assert [v for _, v in c.verdicts] == [Verdict.PAUSE, Verdict.DISCARD]
    assert c.verdicts[-1][0] == 300


def test_a_cough_without_a_transcript_resumes_after_the_noise_wait() -> None:
    c = Call()
    c.begin()
    c.run(200)
    c.end(0)
    c.run(2000)
    assert c.verdicts == [(0, Verdict.PAUSE), (1400, Verdict.RESUME)]  # 200 + 1200 ms
    assert c.arbiter.swallows("u1")


def test_during_a_yes_no_ask_an_acknowledgement_is_an_answer() -> None:
    c = Call()
    c.begin(policy=SpeechPolicy(backchannel_is_answer=True))
    c.run(300)
    c.end(0)
    c.text("Yeah.", final=True)
    assert [v for _, v in c.verdicts] == [Verdict.PAUSE, Verdict.DISCARD]
    assert not c.arbiter.swallows("u1")


def test_a_non_interruptible_prompt_is_never_paused() -> None:
    c = Call()
    c.begin(policy=SpeechPolicy(interruptible=False))
    c.run(3000)
    assert c.verdicts == []


def test_nothing_happens_when_the_bot_is_silent_or_finished() -> None:
    c = Call()
    c.note(c.arbiter.on_speech_begin("u1", 0, 0, bot_speaking=False, policy=SpeechPolicy()))
    c.begin("u2")
    c.arbiter.bot_finished()
    c.run(2000)
    assert c.verdicts == [(0, Verdict.PAUSE)]


def test_the_first_voiced_frame_pauses_and_the_speech_it_starts_keeps_that_pause() -> None:
    c = Call()
    c.run(2000)
    c.onset()  # the VAD's first voiced frame, ~100 ms before it calls it speech
    c.run(100, onset=True)
    c.arbiter.on_speech_begin("u1", 1990, c.ms, bot_speaking=True, policy=SpeechPolicy())
    c.run(800)  # a long utterance: discarded 700 ms after its onset
    assert c.verdicts == [(2000, Verdict.PAUSE), (2700, Verdict.DISCARD)]
    last = c.arbiter.last
    assert last is not None
    assert (last.utterance_id, last.onset_ms, last.pause_ms) == ("u1", 1990, 2000)


def test_a_voiced_frame_that_never_becomes_speech_lets_the_bot_go_on() -> None:
    c = Call()
    c.run(1000)
    c.onset()
    c.run(40, onset=True)  # a click: the VAD falls back to quiet
    c.run(40, voiced=False)
    c.onset()
    c.run(400, voiced=False, onset=True)  # a murmur the VAD never decides on …
    c.onset()  # … pauses the bot once, not every 240 ms
    c.run(20, voiced=False)
    c.onset()  # a new onset, after the VAD fell back to quiet
    assert c.verdicts == [(1000, Verdict.PAUSE), (1060, Verdict.FALSE_ONSET),
                          (1080, Verdict.PAUSE), (1320, Verdict.FALSE_ONSET),
                          (1500, Verdict.PAUSE)]  # fmt: skip
    assert c.arbiter.last is None  # no barge-in to report


def test_an_onset_pauses_only_an_interruptible_bot_that_speaks() -> None:
    c = Call()
    c.onset(SpeechPolicy(interruptible=False))
    assert c.arbiter.on_onset(0, bot_speaking=False, policy=SpeechPolicy()) is Verdict.NONE
    assert c.verdicts == [] and not c.arbiter.paused


def test_backchannel_words() -> None:
    assert is_backchannel("Yeah, yeah.") and is_backchannel("mm-hmm") and is_backchannel("네 네")
    assert not is_backchannel("yeah I lost it") and not is_backchannel("")
    # How tiny.en wrote a caller's "uh-huh" over the bot on 8 kHz audio, and kin.
    for heard in ("Uh-uh.", "Uh-huh-huh.", "Mm-hm.", "Mhmm.", "uh huh"):
        assert is_backchannel(heard), heard
    assert not is_backchannel("card-holder") and not is_backchannel("uh-no")
