"""Built-in global intents and repair prompts (English and Korean).

A flow may redefine any of these intents; what is here makes every flow answer
"agent", "repeat" and "goodbye" without the author writing examples for them.
"""

from __future__ import annotations

BUILTIN_INTENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # name: (examples, regex patterns)
    "agent": (
        (
            "I want to talk to a person", "can I speak to an agent", "transfer me to a human",
            "let me talk to someone", "representative please", "customer service please",
            "put me through to an operator", "I need a real person",
            "상담원 연결해 주세요", "사람이랑 통화하고 싶어요", "상담사 바꿔 주세요",
            "직원이랑 얘기할게요", "상담원이요",
        ),
        (
            r"\b(agent|operator|representative|human|real person)\b",
            r"상담원|상담사|직원 ?(연결|바꿔)|사람(이랑|하고|과) ?(통화|얘기|이야기)",
        ),
    ),
    "repeat": (
        (
            "can you repeat that", "say that again", "what did you say", "pardon",
            "sorry I didn't hear you", "come again", "one more time please",
            "다시 말해 주세요", "뭐라고요", "다시 한 번 말씀해 주세요", "잘 못 들었어요",
            "네? 다시요",
        ),
        (
            r"\b(repeat|say (that|it) again|pardon|come again|one more time)\b",
            r"다시 (한 ?번 )?(말|말씀)|뭐라고요|못 들었",
        ),
    ),
    "goodbye": (
        (
            "goodbye", "bye", "that's all thanks", "I'm done", "hang up", "nothing else bye",
            "안녕히 계세요", "끊을게요", "됐습니다 끊을게요", "이만 끊겠습니다",
        ),
        (
            r"^\s*(good ?bye|bye( bye)?)\b|\bhang up\b",
            r"안녕히 계세요|끊을게요|끊겠습니다|전화 끊",
        ),
    ),
}  # fmt: skip

DEFAULT_GLOBAL_INTENTS = ("agent", "repeat", "goodbye")

NO_MATCH = {
    "en": "Sorry, I didn't get that.",
    "ko": "죄송합니다, 잘 이해하지 못했습니다.",
}
NO_INPUT = {
    "en": "Sorry, I didn't hear anything.",
    "ko": "죄송합니다, 말씀이 들리지 않았습니다.",
}
ESCALATE_HANGUP = {
    "en": "I'm sorry we couldn't sort this out. Please call back any time. Goodbye.",
    "ko": "도와드리지 못해 죄송합니다. 언제든 다시 전화해 주세요. 안녕히 계세요.",
}
GOODBYE = {
    "en": "Thank you for calling. Goodbye.",
    "ko": "전화해 주셔서 감사합니다. 안녕히 계세요.",
}
HOOK_FAILED = {
    "en": "Sorry, something went wrong on our side.",
    "ko": "죄송합니다, 시스템에 문제가 생겼습니다.",
}
