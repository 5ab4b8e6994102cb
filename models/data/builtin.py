"""Built-in synthetic data: dialogue summarization and customer-message classification, Korean and English.

Why it exists: the orchestrator must be runnable and testable offline, with tiny models (about a million
parameters, a byte-level BPE vocabulary of a few thousand pieces trained on this very text) that get a
minute or two of CPU. The data therefore has to be *learnable but not trivial*:

* Learnable: every summary states facts that are present in the dialogue (names, days, times, places,
  numbers), in the DialogSum style (``#Person1#: ...`` turns; summaries that name the speakers as
  ``#Person1#`` / ``#Person2#``), so loss falls quickly and ROUGE climbs well above the copy-the-first-turn
  baseline.
* Not trivial: an earlier generator with one template per task was learnt to ROUGE 1.0 within two
  minutes, which made every model look the same. Here ten scenarios are each written as data (slot lists
  plus several phrasings per turn) and driven by one engine that adds greetings, small talk with
  distracting days and numbers, optional extra facts, alternative outcomes, and changes of mind (the time
  moves from 6 to 7 and the summary must say 7). Who speaks first, and so who is ``#Person1#``, varies;
  summaries come in several phrasings. A model has to read the whole dialogue, and bigger or better
  architectures score visibly higher than smaller ones.
* Classification mirrors this: the intent of a customer message (complaint, question, praise,
  cancellation) with many phrasings, distracting numbers, and about a quarter hard cases whose surface
  cues point elsewhere ("not a complaint, but ...", "the delivery was late but I love it").

Korean is written in natural register (polite speech with staff, casual speech between friends) and
particles after slot values are chosen from the final consonant of the preceding syllable (or the Korean
reading of a final digit), so ``{time|으로}`` renders as ``7시로`` and ``{name|은}`` as ``지은은``.

Everything is deterministic: one ``random.Random(seed)`` per call, tables are tuples and dicts iterated in
insertion order, and splits are made disjoint by construction (each split keeps only items whose SHA-256
bucket falls in its own range), so the same arguments give byte-identical files on any machine.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SUMMARIZATION_COLUMNS = ("id", "dialogue", "summary", "topic")
CLASSIFICATION_COLUMNS = ("id", "text", "label")
LANGUAGES = ("ko", "en")

_TASKS = ("summarization", "classification")
_SPLIT_BUCKETS: dict[str, tuple[int, int]] = {"train": (0, 70), "validation": (70, 85), "test": (85, 100)}
_MIN_TURNS, _MAX_TURNS = 4, 10
_P_CORRECTION, _P_DETAIL, _P_SMALL_TALK = 0.4, 0.45, 0.35
_P_AMBIGUOUS, _P_HARD = 0.04, 0.25
_MAX_ATTEMPTS_PER_ROW = 500

Turn = tuple[str, tuple[str, ...]]
"""A speaker role and the alternative phrasings of what it says. Roles: "A" is the one who wants
something (customer, interviewer, the friend with the plan), "B" the other; "X" / "Y" are placeholders
in correction templates for the one who changes a value and the one who answers."""


def _a(*phrasings: str) -> Turn:
    return ("A", phrasings)


def _b(*phrasings: str) -> Turn:
    return ("B", phrasings)


def _x(*phrasings: str) -> Turn:
    return ("X", phrasings)


def _y(*phrasings: str) -> Turn:
    return ("Y", phrasings)


# --------------------------------------------------------------------------------------------------
# Korean particles
# --------------------------------------------------------------------------------------------------

_JOSA: dict[str, tuple[str, str]] = {}
for _after_consonant, _after_vowel in (
    ("은", "는"), ("이", "가"), ("을", "를"), ("과", "와"), ("으로", "로"), ("이에요", "예요"),
    ("이요", "요"), ("이었", "였"), ("이야", "야"), ("이구나", "구나"), ("이랑", "랑"),
):
    _JOSA[_after_consonant] = _JOSA[_after_vowel] = (_after_consonant, _after_vowel)

_RIEUL = 8
_DIGIT_FINAL = {"0": 21, "1": 8, "2": 0, "3": 16, "4": 0, "5": 0, "6": 1, "7": 8, "8": 8, "9": 0}
_TRAILING_ZEROS_FINAL = {1: 17, 2: 1, 3: 4, 4: 4}
_LATIN_FINAL = {"l": 8, "m": 16, "n": 4, "r": 8}


def _final_consonant(word: str) -> int:
    """Index of the final consonant (jongseong) of how the word ends when read aloud; 0 for none.
    Digits are read in Sino-Korean (1 일, 10 십), so ``#Person1#`` takes 은 and ``#Person2#`` takes 는."""
    core = word.rstrip(" #.,!?)'\"").replace(",", "")
    if not core:
        return 0
    last = core[-1]
    if "가" <= last <= "힣":
        return (ord(last) - 0xAC00) % 28
    if last.isdigit():
        digits = re.search(r"\d+$", core).group()
        zeros = len(digits) - len(digits.rstrip("0"))
        if zeros == len(digits):
            return _DIGIT_FINAL["0"]
        if zeros:
            return _TRAILING_ZEROS_FINAL.get(zeros, 4)
        return _DIGIT_FINAL[last]
    return _LATIN_FINAL.get(last.lower(), 0)


def _josa(word: str, particle: str) -> str:
    """The particle form that fits after ``word``; particles without alternation are returned as given."""
    pair = _JOSA.get(particle)
    if pair is None:
        return particle
    final = _final_consonant(word)
    if pair[0] == "으로":
        return "로" if final in (0, _RIEUL) else "으로"
    return pair[0] if final else pair[1]


_SLOT = re.compile(r"\{(\w+)(?:\|(\w+))?\}")
_SENTENCE_START = re.compile(r"(^|[.!?]\s+)([a-z])")


def _render(template: str, values: Mapping[str, str]) -> str:
    """Fills ``{slot}`` and ``{slot|particle}`` placeholders."""

    def fill(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        particle = match.group(2)
        return value + _josa(value, particle) if particle else value

    return _SLOT.sub(fill, template)


def _capitalize(text: str) -> str:
    return _SENTENCE_START.sub(lambda m: m.group(1) + m.group(2).upper(), text)


# --------------------------------------------------------------------------------------------------
# Scenario tables
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    """An alternative ending; its sentence is added to the summary, so the model must read the ending."""

    steps: Sequence[Sequence[Turn]]
    summary: Sequence[str]


@dataclass(frozen=True)
class _Detail:
    """An optional extra fact: a short exchange plus the summary sentence it adds."""

    turns: Sequence[Turn]
    summary: Sequence[str]


@dataclass(frozen=True)
class _Script:
    """One scenario in one language. Steps are exchanges that stay together; extra turns (small talk,
    details, corrections) are only inserted between steps. Without outcomes the last step closes the
    dialogue and repeats the final values."""

    topic: str
    slots: Mapping[str, Sequence[str]]
    steps: Sequence[Sequence[Turn]]
    summaries: Sequence[str]
    outcomes: Sequence[_Outcome] = ()
    details: Sequence[_Detail] = ()
    bundles: Sequence[Mapping[str, str]] = ()
    openings: Sequence[Sequence[Turn]] | None = None
    closings: Sequence[Sequence[Turn]] | None = None
    corrections: Mapping[str, Sequence[Turn]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Scenario:
    """``changeable`` maps a slot to (who changes it, correction modes...). Mode "change": that speaker
    changes their mind later on; mode "unavailable": the other speaker answers at once that the value is
    not possible and proposes another. A scenario may override the wording per slot in its scripts."""

    key: str
    register: str
    changeable: Mapping[str, tuple[str, ...]]
    scripts: Mapping[str, _Script]


_KO_DAYS = ("월요일", "화요일", "수요일", "목요일", "금요일", "토요일", "일요일")
_EN_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAYS = {"ko": _KO_DAYS, "en": _EN_DAYS}
_KO_NAMES = ("김민수", "이지은", "박서준", "최유나", "정하늘", "강도현", "윤서연", "장민호", "임수빈", "한지우",
             "오세훈", "신예린")
_EN_NAMES = ("Emma Clark", "Liam Walker", "Olivia Reed", "Noah Turner", "Ava Mitchell", "Ethan Brooks",
             "Mia Foster", "Lucas Hayes", "Sophia Bennett", "Daniel Price", "Grace Coleman", "Henry Ward")
_KO_FRIENDS = ("민수", "지은", "서준", "유나", "하늘", "도현", "서연", "민호", "수빈", "지우", "세훈", "예린")
_EN_FRIENDS = ("Emma", "Liam", "Olivia", "Noah", "Ava", "Ethan", "Mia", "Lucas", "Sophia", "Daniel",
               "Grace", "Henry")
_KO_COUNTS = ("2명", "3명", "4명", "5명", "6명", "8명")
_EN_COUNTS = ("two", "three", "four", "five", "six", "eight")
_KO_MEAL_TIMES = ("낮 12시", "낮 12시 30분", "오후 1시", "저녁 6시", "저녁 6시 30분", "저녁 7시", "저녁 7시 30분",
                  "저녁 8시")
_EN_MEAL_TIMES = ("noon", "12:30 pm", "1 pm", "6 pm", "6:30 pm", "7 pm", "7:30 pm", "8 pm")
_KO_DAY_TIMES = ("오전 9시", "오전 9시 30분", "오전 10시", "오전 11시", "오후 2시", "오후 2시 30분", "오후 3시",
                 "오후 4시", "오후 5시")
_EN_DAY_TIMES = ("9 am", "9:30 am", "10 am", "11 am", "2 pm", "2:30 pm", "3 pm", "4 pm", "5 pm")
_KO_FREE_TIMES = ("오후 2시", "오후 3시", "오후 4시", "저녁 6시", "저녁 7시", "저녁 8시")
_EN_FREE_TIMES = ("2 pm", "3 pm", "4 pm", "6 pm", "7 pm", "8 pm")
_MONTHS_EN = ("March", "April", "May", "June", "July", "August", "September", "October", "November")
_DATE_DAYS = (2, 6, 11, 15, 19, 24, 28)
_KO_DATES = tuple(f"{month}월 {day}일" for month in range(3, 12) for day in _DATE_DAYS)
_EN_DATES = tuple(f"{month} {day}" for month in _MONTHS_EN for day in _DATE_DAYS)

_GENERIC_SLOTS: dict[str, dict[str, tuple[str, ...]]] = {
    "ko": {"mins": ("10", "15", "20", "30", "40"), "score": ("2대 1", "3대 2", "1대 0", "4대 3")},
    "en": {"mins": ("10", "15", "20", "30", "40"), "score": ("Two to one", "Three to two", "One-nil")},
}

_RESTAURANT = _Scenario(
    key="restaurant",
    register="service",
    changeable={"time": ("A", "change", "unavailable"), "day": ("A", "change", "unavailable"),
                "count": ("A", "change")},
    scripts={
        "ko": _Script(
            topic="식당 예약",
            slots={"venue": ("한빛 식당", "소담 한정식", "바다 횟집", "라온 비스트로", "초록 파스타", "달빛 고깃집"),
                   "day": _KO_DAYS, "time": _KO_MEAL_TIMES, "count": _KO_COUNTS, "name": _KO_NAMES,
                   "allergy": ("땅콩", "새우", "우유", "밀가루", "갑각류")},
            steps=[
                [_a("{day} {time}에 {count} 예약하고 싶은데요.", "{day} {time}에 {count} 자리 있을까요?",
                    "예약 좀 하려고요. {day} {time}에 {count|이요}.")],
                [_b("네, 확인해 보겠습니다. 예약자 성함이 어떻게 되세요?", "잠시만요... 네, 가능합니다. 성함을 알려 주시겠어요?",
                    "네, 자리 있습니다. 어느 분 이름으로 예약해 드릴까요?"),
                 _a("{name}입니다.", "{name|으로} 해 주세요.", "{name|이에요}.")],
                [_b("네, {name} 님. {day} {time}에 {count} 예약되었습니다.",
                    "{day} {time}, {count}. {name} 님 이름으로 예약 완료했습니다.",
                    "알겠습니다. {name} 님 성함으로 {day} {time}에 {count} 자리 잡아 두었습니다.")],
            ],
            summaries=["{A|은} {B|에게} {day} {time}에 {count} 식당 예약을 부탁한다.",
                       "{A|은} {name} 이름으로 {day} {time}에 {count} 자리를 예약한다.",
                       "{B|은} {A|의} 요청으로 {day} {time}에 {count} 예약을 {name} 이름으로 잡아 준다."],
            details=[
                _Detail([_a("창가 자리로 부탁드려도 될까요?", "혹시 창가 쪽 자리도 가능할까요?"),
                         _b("네, 창가 자리로 준비해 드리겠습니다.", "네, 창가 쪽으로 메모해 둘게요.")],
                        ["{A|은} 창가 자리도 요청한다.", "{A|은} 창가 쪽 자리를 부탁한다."]),
                _Detail([_a("일행 중에 {allergy} 알레르기가 있는 사람이 있어요.", "참, {allergy} 알레르기가 있는 친구가 있어요."),
                         _b("네, 주방에 미리 전달해 두겠습니다.", "알겠습니다. {allergy|을} 빼고 준비하도록 하겠습니다.")],
                        ["{A|은} 일행 중에 {allergy} 알레르기가 있다고 알린다.",
                         "{A|은} {allergy} 알레르기가 있는 일행이 있다고 미리 말한다."]),
                _Detail([_a("주차는 가능한가요?", "혹시 주차할 곳이 있나요?"),
                         _b("네, 건물 지하 주차장을 2시간 무료로 이용하실 수 있습니다.")],
                        ["{B|은} 2시간 무료 주차가 된다고 알려 준다."]),
            ],
        ),
        "en": _Script(
            topic="restaurant booking",
            slots={"venue": ("Luna Bistro", "The Green Fork", "Harbor Grill", "Rosa's Trattoria", "Blue Pine Cafe",
                             "Golden Dragon"),
                   "day": _EN_DAYS, "time": _EN_MEAL_TIMES, "count": _EN_COUNTS, "name": _EN_NAMES,
                   "allergy": ("peanuts", "shrimp", "dairy", "gluten", "shellfish")},
            steps=[
                [_a("I'd like to book a table for {count} on {day} at {time}.",
                    "Do you have a table for {count} at {time} on {day}?",
                    "I'm calling to make a reservation for {count} people, {day} at {time}.")],
                [_b("Let me check... yes, we have a table. May I have your name, please?",
                    "Sure. What name should I put the reservation under?",
                    "Certainly. Could I get a name for the booking?"),
                 _a("It's {name}.", "Under {name}, please.", "My name is {name}.")],
                [_b("Great, {name}. You're booked for {count} on {day} at {time}.",
                    "All right, a table for {count} on {day} at {time} under {name}.",
                    "Done. We'll see you on {day} at {time}, {name}. Table for {count}.")],
            ],
            summaries=["{A} asks {B} to book a table for {count} at {time} on {day}.",
                       "{A} books a table for {count} on {day} at {time} under the name {name}.",
                       "{B} reserves a table for {count} for {A} on {day} at {time}."],
            details=[
                _Detail([_a("Could we have a table by the window?", "Is a window seat possible?"),
                         _b("Of course, I'll note a window table.", "Sure, I'll put you by the window.")],
                        ["{A} also asks for a window table.", "{A} requests a seat by the window."]),
                _Detail([_a("One of us is allergic to {allergy}.", "By the way, a friend of mine is allergic to {allergy}."),
                         _b("Thanks for letting us know. I'll tell the kitchen.", "Noted. The chef will leave out {allergy}.")],
                        ["{A} mentions that someone in the group is allergic to {allergy}.",
                         "{A} tells {B} that one guest is allergic to {allergy}."]),
                _Detail([_a("Is there parking?", "Can we park nearby?"),
                         _b("Yes, there's free parking for two hours in the basement.")],
                        ["{B} says there is two hours of free parking."]),
            ],
        ),
    },
)

_DOCTOR = _Scenario(
    key="doctor",
    register="service",
    changeable={"day": ("A", "change", "unavailable"), "time": ("A", "change", "unavailable")},
    scripts={
        "ko": _Script(
            topic="진료 예약",
            slots={"venue": ("하나 의원", "서울 가정의학과", "바른 병원", "새봄 의원", "연세 내과"),
                   "day": _KO_DAYS, "time": _KO_DAY_TIMES, "name": _KO_NAMES,
                   "symptom": ("두통", "기침", "허리 통증", "목 통증", "소화불량", "무릎 통증", "피부 발진", "어지럼증"),
                   "doctor": ("김 선생님", "박 선생님", "이 선생님", "최 선생님", "정 선생님"),
                   "med": ("혈압약", "당뇨약", "비염약", "진통제")},
            steps=[
                [_a("진료 예약을 하고 싶어서요. 며칠째 {symptom|이} 계속돼요.",
                    "요즘 {symptom} 때문에 힘들어서 진료를 받아 보고 싶어요.",
                    "{symptom|으로} 진료 예약 좀 할 수 있을까요?"),
                 _b("네, 언제 오시는 게 편하세요?", "그러시군요. 원하시는 날짜가 있으세요?", "알겠습니다. 언제가 괜찮으세요?")],
                [_a("{day} {time}쯤 가능할까요?", "{day} {time|이} 좋겠어요.", "가능하면 {day} {time|으로} 부탁드려요.")],
                [_b("네, 그 시간에 {doctor} 진료가 가능합니다. 성함이 어떻게 되세요?",
                    "{doctor}께 진료 보실 수 있어요. 성함 부탁드립니다."),
                 _a("{name}입니다.", "{name|이에요}.")],
                [_b("{name} 님, {day} {time}에 {doctor} 진료로 예약해 드렸습니다.",
                    "네, {name} 님 {day} {time} 예약 완료되었습니다. 10분 일찍 와 주세요.",
                    "예약되었습니다. {day} {time}에 {doctor}께 진료 받으시면 됩니다.")],
            ],
            summaries=["{A|은} {symptom} 때문에 {day} {time}에 {doctor} 진료를 예약한다.",
                       "{A|은} {symptom|으로} 진료를 받으려고 {B|에게} {day} {time} 예약을 잡는다.",
                       "{B|은} {symptom|이} 있는 {A|의} 진료를 {day} {time|으로} 예약해 준다."],
            details=[
                _Detail([_a("혹시 건강보험 적용이 되나요?"), _b("네, 건강보험 적용됩니다.", "네, 보험 적용 가능합니다.")],
                        ["{A|은} 건강보험 적용 여부도 확인한다.", "{B|은} 건강보험이 적용된다고 알려 준다."]),
                _Detail([_a("처음 가는 건데 뭘 챙겨 가야 하나요?", "준비해 갈 게 있을까요?"),
                         _b("신분증만 가져오시면 됩니다.", "신분증 꼭 챙겨 오세요.")],
                        ["{B|은} {A|에게} 신분증을 챙겨 오라고 안내한다.", "{A|은} 신분증을 가져가야 한다."]),
                _Detail([_b("혹시 복용 중인 약이 있으세요?"), _a("네, {med|을} 먹고 있어요.", "요즘 {med|을} 복용하고 있어요.")],
                        ["{A|은} {med|을} 복용 중이라고 말한다."]),
            ],
        ),
        "en": _Script(
            topic="doctor's appointment",
            slots={"venue": ("Maple Clinic", "Riverside Medical Center", "Oak Street Clinic", "Sunrise Family Practice",
                             "City Health Clinic"),
                   "day": _EN_DAYS, "time": _EN_DAY_TIMES, "name": _EN_NAMES,
                   "symptom": ("headaches", "a bad cough", "back pain", "a sore throat", "stomach problems", "knee pain",
                               "a skin rash", "dizziness"),
                   "doctor": ("Dr. Kim", "Dr. Patel", "Dr. Lopez", "Dr. Smith", "Dr. Chen"),
                   "med": ("blood pressure pills", "allergy medicine", "painkillers", "sleeping pills")},
            steps=[
                [_a("I'd like to make an appointment. I've had {symptom} for a few days.",
                    "I've been having {symptom} lately and I'd like to see a doctor.",
                    "Can I book an appointment? It's about {symptom}."),
                 _b("Of course. When would suit you?", "I see. Do you have a day in mind?",
                    "All right. When would you like to come in?")],
                [_a("Is {day} at {time} possible?", "{day} at {time} would be best.",
                    "If possible, {day} at {time}, please.")],
                [_b("Yes, {doctor} is available then. May I have your name?",
                    "{doctor} can see you then. Could I get your name, please?"),
                 _a("It's {name}.", "{name}.")],
                [_b("OK, {name}, you're booked with {doctor} on {day} at {time}.",
                    "Done, {name}. Your appointment is on {day} at {time}. Please come ten minutes early.",
                    "You're all set: {day} at {time} with {doctor}.")],
            ],
            summaries=["{A} makes an appointment with {doctor} for {day} at {time} because of {symptom}.",
                       "{A} has {symptom} and books an appointment with {B} for {day} at {time}.",
                       "{B} schedules {A} to see {doctor} on {day} at {time} about {symptom}."],
            details=[
                _Detail([_a("Do you accept health insurance?"), _b("Yes, we do.", "Yes, insurance is accepted.")],
                        ["{A} also checks that insurance is accepted.", "{B} confirms that insurance is accepted."]),
                _Detail([_a("It's my first visit. Do I need to bring anything?", "Should I bring anything?"),
                         _b("Just bring your ID.", "Please bring a photo ID.")],
                        ["{B} tells {A} to bring an ID.", "{A} needs to bring an ID."]),
                _Detail([_b("Are you taking any medication?"), _a("Yes, I take {med}.", "I'm on {med} at the moment.")],
                        ["{A} mentions taking {med}."]),
            ],
        ),
    },
)

_HOTEL = _Scenario(
    key="hotel",
    register="service",
    changeable={"date": ("A", "change", "unavailable"), "nights": ("A", "change"),
                "room": ("A", "change", "unavailable")},
    scripts={
        "ko": _Script(
            topic="호텔 예약",
            slots={"venue": ("그랜드 호텔", "바다 리조트", "한옥 스테이", "시티 호텔", "솔숲 리조트"),
                   "date": _KO_DATES, "nights": ("1박", "2박", "3박", "4박"), "name": _KO_NAMES,
                   "room": ("싱글룸", "더블룸", "트윈룸", "스위트룸", "패밀리룸", "오션뷰 객실")},
            steps=[
                [_a("{date}부터 {nights} 묵을 방을 예약하고 싶어요.", "{date}에 체크인해서 {nights} 하려는데 방 있나요?",
                    "방 예약 문의드려요. {date}부터 {nights|이요}.")],
                [_b("네, 어떤 객실을 원하세요?", "가능합니다. 객실 타입은 어떤 걸로 하시겠어요?", "네, 원하시는 방 종류가 있으세요?"),
                 _a("{room|으로} 부탁드려요.", "{room|이} 좋겠어요.", "{room|으로} 할게요.")],
                [_b("예약자 성함이 어떻게 되세요?", "성함을 말씀해 주시겠어요?"), _a("{name}입니다.", "{name|이에요}.")],
                [_b("{name} 님, {date}부터 {nights}, {room|으로} 예약되었습니다.",
                    "확인되었습니다. {room} {nights}, {date} 체크인입니다.",
                    "네, {name} 님 이름으로 {date}부터 {nights} {room} 예약 완료했습니다.")],
            ],
            summaries=["{A|은} {date}부터 {nights} 동안 묵을 {room|을} 예약한다.",
                       "{A|은} {B|에게} {date} 체크인으로 {room} {nights|을} 예약한다.",
                       "{B|은} {name} 이름으로 {date}부터 {room} {nights} 예약을 잡아 준다."],
            details=[
                _Detail([_a("조식도 포함인가요?", "아침 식사가 포함되어 있나요?"),
                         _b("네, 조식이 포함되어 있습니다.", "네, 1층 식당에서 조식을 드실 수 있어요.")],
                        ["조식은 포함되어 있다.", "{B|은} 조식이 포함되어 있다고 안내한다."]),
                _Detail([_a("체크아웃을 좀 늦게 할 수 있을까요?"), _b("네, 오후 1시까지 가능합니다.")],
                        ["{B|은} 오후 1시까지 늦은 체크아웃이 가능하다고 한다.", "{A|은} 오후 1시까지 늦게 체크아웃할 수 있다."]),
                _Detail([_a("공항 셔틀버스도 있나요?"), _b("네, 30분마다 공항 셔틀이 운행합니다.")],
                        ["{B|은} 공항 셔틀이 30분마다 있다고 알려 준다."]),
            ],
        ),
        "en": _Script(
            topic="hotel booking",
            slots={"venue": ("Grand Harbor Hotel", "Seaside Resort", "Parkview Inn", "City Central Hotel", "Pine Lodge"),
                   "date": _EN_DATES, "nights": ("one night", "two nights", "three nights", "four nights"),
                   "name": _EN_NAMES,
                   "room": ("a single room", "a double room", "a twin room", "a suite", "a family room",
                            "a sea-view room")},
            steps=[
                [_a("I'd like to book a room for {nights} from {date}.",
                    "Do you have a room available from {date} for {nights}?",
                    "I'm looking for a room, checking in on {date}, for {nights}.")],
                [_b("Certainly. What type of room would you like?", "Yes, we do. Which room type do you prefer?",
                    "Sure. Any preference for the room?"),
                 _a("{room}, please.", "I'd like {room}.", "{room} would be great.")],
                [_b("May I have your name, please?", "And the name for the reservation?"), _a("It's {name}.", "{name}.")],
                [_b("Thank you, {name}. {room} for {nights} from {date} is booked.",
                    "All set: {room}, {nights}, checking in {date}.",
                    "We have reserved {room} for {nights} starting {date}, {name}.")],
            ],
            summaries=["{A} books {room} for {nights} from {date}.",
                       "{A} asks {B} for {room}, checking in on {date} for {nights}.",
                       "{B} reserves {room} for {nights} starting {date} under the name {name}."],
            details=[
                _Detail([_a("Is breakfast included?", "Does the rate include breakfast?"),
                         _b("Yes, breakfast is included.", "Yes, breakfast is served on the first floor.")],
                        ["Breakfast is included.", "{B} says breakfast is included."]),
                _Detail([_a("Could I check out a little late?"), _b("Yes, you can stay until 1 pm.")],
                        ["{B} allows a late check-out until 1 pm.", "{A} can check out late, at 1 pm."]),
                _Detail([_a("Is there an airport shuttle?"), _b("Yes, it runs every 30 minutes.")],
                        ["{B} says an airport shuttle runs every 30 minutes."]),
            ],
        ),
    },
)

_LOST_ITEM = _Scenario(
    key="lost_item",
    register="service",
    changeable={"place": ("A", "change")},
    scripts={
        "ko": _Script(
            topic="분실물 찾기",
            slots={"venue": ("시청역 분실물 센터", "중앙 도서관 안내 데스크", "시외버스 터미널 안내소", "백화점 고객센터"),
                   "item": ("검은색 우산", "갈색 지갑", "파란색 백팩", "은색 노트북", "휴대폰", "흰색 텀블러", "안경",
                            "열쇠 꾸러미"),
                   "place": ("입구 근처", "2층 카페", "화장실 앞", "엘리베이터 안", "벤치 위", "계단 옆"),
                   "when": ("어제 저녁", "오늘 아침", "지난 금요일", "그저께 오후"),
                   "feature": ("이름표가 달려 있어요", "고양이 스티커가 붙어 있어요", "빨간 리본이 묶여 있어요",
                               "안쪽에 이니셜이 적혀 있어요"),
                   "phone": ("010-2741-5583", "010-9182-3346", "010-5530-1298", "010-7765-4021", "010-3318-9904",
                             "010-4467-2215")},
            steps=[
                [_a("{when} {place}에서 {item|을} 잃어버렸어요.", "혹시 {item} 들어온 거 있나요? {when} {place}에 두고 온 것 같아요.",
                    "{item|을} 잃어버려서 왔어요. {when} {place}에서요."),
                 _b("어떻게 생겼는지 자세히 말씀해 주시겠어요?", "특징을 좀 말씀해 주시겠어요?", "혹시 특별한 표시가 있나요?")],
                [_a("{feature}.", "음, {feature}.")],
            ],
            outcomes=[
                _Outcome([[_b("잠시만요... 네, 여기 있네요. 신분증 보여 주시면 돌려드릴게요.",
                              "확인해 보니 {item|이} 들어와 있어요. 신분증 좀 보여 주시겠어요?"),
                           _a("다행이다! 여기 신분증이요.", "정말 다행이에요. 여기 있어요.")]],
                         ["{B|은} 보관 중이던 {item|을} 신분증을 확인하고 돌려준다.", "{A|은} 잃어버린 {item|을} 되찾는다."]),
                _Outcome([[_b("아직 들어온 건 없네요. 연락처를 남겨 주시면 들어오는 대로 연락드릴게요.",
                              "지금은 보관 중인 게 없어요. 번호를 남겨 주시면 찾는 대로 연락드리겠습니다."),
                           _a("네, 제 번호는 {phone}입니다.", "{phone|으로} 연락 주세요.")]],
                         ["{B|은} 아직 {item|이} 들어오지 않았다며 찾으면 {A|에게} 연락하기로 한다.",
                          "{A|은} {item|을} 찾지 못해 연락처 {phone|을} 남긴다."]),
            ],
            summaries=["{A|은} {when} {place}에서 {item|을} 잃어버렸다고 {B|에게} 말한다.",
                       "{A|은} {when} {place}에 두고 온 {item|을} 찾고 있다.",
                       "{A|은} {place}에서 잃어버린 {item|을} 찾으러 {B|에게} 문의한다."],
            corrections={"place": [_x("아, 다시 생각해 보니 {old|이} 아니라 {new|이었}어요.",
                                      "잠깐만요, {old|이} 아니라 {new|이었}던 것 같아요."),
                                   _y("네, {new} 쪽으로 확인해 볼게요.", "알겠습니다. {new|으로} 적어 둘게요.")]},
        ),
        "en": _Script(
            topic="lost item",
            slots={"venue": ("City Hall Station Lost and Found", "Central Library Front Desk",
                             "Riverside Mall Customer Service", "Union Bus Terminal Information"),
                   "item": ("a black umbrella", "a brown wallet", "a blue backpack", "a silver laptop", "a black phone",
                            "a white water bottle", "a pair of glasses", "a set of keys"),
                   "place": ("near the entrance", "at the second-floor cafe", "outside the restroom", "in the elevator",
                             "on a bench", "by the stairs"),
                   "when": ("yesterday evening", "this morning", "last Friday", "two days ago"),
                   "feature": ("It has a name tag on it", "There's a cat sticker on it", "It has a red ribbon on it",
                               "My initials are written inside"),
                   "phone": ("555-0142", "555-0198", "555-0173", "555-0126", "555-0181", "555-0157")},
            steps=[
                [_a("I lost {item} {place} {when}.", "Has anyone turned in {item}? I think I left it {place} {when}.",
                    "I'm here about {item} I lost {when}, {place}."),
                 _b("Can you describe it in more detail?", "Does it have any special features?", "What does it look like?")],
                [_a("{feature}.", "Well, {feature}.")],
            ],
            outcomes=[
                _Outcome([[_b("Let me check... yes, here it is. Can I see your ID, please?",
                              "We do have {item} here. I just need to see some ID."),
                           _a("What a relief! Here's my ID.", "Thank goodness. Here you go.")]],
                         ["{B} returns {item} after checking {A}'s ID.", "{A} gets back {item}."]),
                _Outcome([[_b("Nothing like that has come in yet. Leave your number and we'll call you if it turns up.",
                              "We don't have it right now. If you leave a number, we'll let you know."),
                           _a("Sure, it's {phone}.", "My number is {phone}.")]],
                         ["{B} hasn't found it yet and will call {A} if it turns up.",
                          "{A} can't find {item} yet and leaves the number {phone}."]),
            ],
            summaries=["{A} reports losing {item} {place} {when}.",
                       "{A} is looking for {item} left {place} {when}.",
                       "{A} asks {B} about {item} lost {place}."],
            corrections={"place": [_x("Oh, wait. Actually it was {new}, not {old}.", "Sorry, I think it was {new}, not {old}."),
                                   _y("OK, I'll check {new} then.", "Got it, {new}.")]},
        ),
    },
)

_RETURNS = _Scenario(
    key="returns",
    register="service",
    changeable={},
    scripts={
        "ko": _Script(
            topic="반품과 교환",
            slots={"venue": ("온누리 마트", "스타일 백화점", "하늘 전자", "무지개 쇼핑몰"),
                   "when": ("사흘 전에", "일주일 전에", "지난 주말에", "어제"),
                   "amount": ("39,000원", "52,000원", "128,000원", "15,900원", "74,000원", "89,000원")},
            bundles=[
                {"product": "운동화", "reason": "사이즈가 안 맞아서", "alt": "한 치수 큰 것"},
                {"product": "블루투스 이어폰", "reason": "한쪽 소리가 안 나서", "alt": "새 제품"},
                {"product": "겨울 코트", "reason": "색상이 사진과 달라서", "alt": "다른 색상"},
                {"product": "전기 주전자", "reason": "전원이 안 켜져서", "alt": "새 제품"},
                {"product": "청바지", "reason": "허리가 너무 커서", "alt": "한 치수 작은 것"},
                {"product": "가습기", "reason": "물이 새서", "alt": "새 제품"},
                {"product": "니트 스웨터", "reason": "보풀이 너무 많이 일어나서", "alt": "다른 디자인"},
            ],
            steps=[
                [_a("{when} 여기서 {product|을} 샀는데요, {reason} 반품하고 싶어요.", "{product} 반품 문의드려요. {reason}요.",
                    "{when} 산 {product} 때문에 왔어요. {reason}요."),
                 _b("영수증 가지고 계세요?", "구매 내역을 확인할 수 있는 영수증이 있으신가요?"),
                 _a("네, 여기 있어요.", "네, 휴대폰에 전자 영수증이 있어요.")],
                [_b("환불해 드릴까요, 아니면 교환해 드릴까요?", "교환과 환불 중에 어떤 걸 원하세요?")],
            ],
            outcomes=[
                _Outcome([[_a("그냥 환불해 주세요.", "환불로 할게요."),
                           _b("네, 결제하신 카드로 {amount} 환불해 드렸습니다.", "{amount} 환불 처리되었습니다. 카드사에 따라 3일 정도 걸려요.")]],
                         ["{B|은} {amount|을} 카드로 환불해 준다.", "{A|은} {amount|을} 환불받는다."]),
                _Outcome([[_a("{alt|으로} 교환해 주세요.", "{alt|으로} 바꾸고 싶어요."),
                           _b("네, {alt|으로} 바로 교환해 드릴게요.", "알겠습니다. {alt|으로} 교환해 드리겠습니다.")]],
                         ["{A|은} {product|을} {alt|으로} 교환한다.", "{B|은} {product|을} {alt|으로} 바꿔 준다."]),
            ],
            summaries=["{A|은} {reason} {product|을} 반품하려고 한다.",
                       "{A|은} {when} 산 {product|이} {reason} {B|에게} 반품을 요청한다.",
                       "{A|은} {reason} {when} 산 {product|을} 가지고 온다."],
            details=[
                _Detail([_a("포장 박스가 없는데 괜찮을까요?"), _b("네, 제품만 있으면 괜찮습니다.")],
                        ["{B|은} 포장 박스가 없어도 괜찮다고 한다."]),
                _Detail([_a("다음부터는 온라인으로 반품해도 되나요?"), _b("네, 앱에서 신청하시면 택배 기사님이 방문합니다.")],
                        ["{B|은} 앱으로도 반품 신청을 할 수 있다고 알려 준다."]),
            ],
        ),
        "en": _Script(
            topic="returns and exchanges",
            slots={"venue": ("Onnuri Mart", "Style Department Store", "Sky Electronics", "Rainbow Mall"),
                   "when": ("three days ago", "a week ago", "last weekend", "yesterday"),
                   "amount": ("$39", "$52", "$128", "$15.90", "$74", "$89")},
            bundles=[
                {"product": "a pair of sneakers", "reason": "they're too small", "alt": "a bigger size"},
                {"product": "wireless earbuds", "reason": "the left one makes no sound", "alt": "a new pair"},
                {"product": "a winter coat", "reason": "the color is different from the photo", "alt": "a different color"},
                {"product": "an electric kettle", "reason": "it won't turn on", "alt": "a new one"},
                {"product": "a pair of jeans", "reason": "the waist is too big", "alt": "a smaller size"},
                {"product": "a humidifier", "reason": "it leaks water", "alt": "a new one"},
                {"product": "a wool sweater", "reason": "it pills too much", "alt": "a different style"},
            ],
            steps=[
                [_a("I bought {product} here {when}, but {reason}. I'd like a return.", "I want to return {product}. {reason}.",
                    "Hi, I'm here about {product} I bought {when}. {reason}."),
                 _b("Do you have the receipt?", "Could I see your receipt, please?"),
                 _a("Yes, here it is.", "Yes, I have an e-receipt on my phone.")],
                [_b("Would you like a refund or an exchange?", "Do you want your money back, or an exchange?")],
            ],
            outcomes=[
                _Outcome([[_a("A refund, please.", "I'll just take a refund."),
                           _b("OK, {amount} has been refunded to your card.",
                              "Done. {amount} will go back to your card within three days.")]],
                         ["{B} refunds {amount} to {A}'s card.", "{A} gets a refund of {amount}."]),
                _Outcome([[_a("I'd prefer an exchange for {alt}.", "Can I get {alt} instead?"),
                           _b("Sure, here's {alt}.", "No problem, I'll get you {alt}.")]],
                         ["{A} exchanges {product} for {alt}.", "{B} gives {A} {alt} in exchange."]),
            ],
            summaries=["{A} wants to return {product} because {reason}.",
                       "{A} brings back {product} bought {when} because {reason}.",
                       "{A} asks {B} to take back {product} since {reason}."],
            details=[
                _Detail([_a("I don't have the box anymore. Is that OK?"), _b("Yes, the product itself is enough.")],
                        ["{B} says the original box is not needed."]),
                _Detail([_a("Can I return things online next time?"), _b("Yes, request it in the app and a courier will pick it up.")],
                        ["{B} explains that returns can also be requested in the app."]),
            ],
        ),
    },
)

_INTERVIEW = _Scenario(
    key="interview",
    register="service",
    changeable={"start": ("B", "change")},
    scripts={
        "ko": _Script(
            topic="취업 면접",
            slots={"position": ("마케팅 담당자", "웹 개발자", "회계 담당자", "영업 사원", "그래픽 디자이너", "고객 상담원"),
                   "company": ("한결 전자", "미래 소프트", "다온 물산", "새길 컨설팅", "온빛 디자인", "푸른 은행"),
                   "years": ("1년", "2년", "3년", "5년", "7년"),
                   "strength": ("팀워크", "꼼꼼함", "문제 해결 능력", "소통 능력", "책임감"),
                   "start": ("다음 달 1일", "2주 뒤", "다음 주 월요일", "이번 달 15일"),
                   "name": _KO_NAMES, "day": _KO_DAYS},
            openings=[[], [_b("안녕하세요, 오늘 면접 보러 온 {name}입니다.")],
                      [_a("어서 오세요. 이쪽으로 앉으세요."), _b("네, 감사합니다.")],
                      [_b("안녕하세요. 면접 보러 왔습니다."), _a("네, 반갑습니다. 앉으세요.")]],
            closings=[[], [_a("오늘 와 주셔서 감사합니다.")], [_b("오늘 시간 내 주셔서 감사합니다."), _a("수고하셨습니다.")]],
            steps=[
                [_a("{position} 자리에 지원해 주셔서 감사합니다. 간단히 자기소개 부탁드립니다.",
                    "{position} 면접에 와 주셔서 감사합니다. 경력을 말씀해 주시겠어요?",
                    "먼저 {position}에 지원하신 이유와 경력을 말씀해 주세요."),
                 _b("네, 저는 {company}에서 {years} 동안 일했습니다.", "{company}에서 {years} 근무했습니다.",
                    "{name}입니다. {company}에서 {years} 동안 일했습니다.")],
                [_a("본인의 강점은 뭐라고 생각하세요?", "가장 자신 있는 부분은 뭔가요?"),
                 _b("{strength|이} 제 강점이라고 생각합니다.", "저는 {strength|이} 가장 자신 있습니다.")],
                [_a("입사하게 되면 언제부터 출근할 수 있나요?", "언제부터 일할 수 있으세요?"),
                 _b("{start}부터 출근할 수 있습니다.", "{start}부터 가능합니다.")],
            ],
            outcomes=[
                _Outcome([[_a("알겠습니다. 결과는 {day}까지 이메일로 알려 드리겠습니다.", "감사합니다. {day}까지 결과를 연락드릴게요.")]],
                         ["{A|은} {day}까지 결과를 알려 주겠다고 한다.", "결과는 {day}까지 이메일로 안내된다."]),
                _Outcome([[_a("좋습니다. {day}에 2차 면접을 보러 와 주세요.", "인상적이네요. {day}에 팀장님과 2차 면접을 잡겠습니다."),
                           _b("네, 감사합니다. {day}에 오겠습니다.")]],
                         ["{A|은} {B|에게} {day}에 2차 면접을 보자고 한다.", "{B|은} {day}에 2차 면접을 보게 된다."]),
            ],
            summaries=["{B|은} {position} 면접에서 {company} 경력 {years|과} 강점인 {strength|을} 이야기하고, {start}부터 출근할 수 있다고 한다.",
                       "{A|은} {position}에 지원한 {B|을} 면접하는데, {B|은} {company}에서 {years} 일했고 {start}부터 일할 수 있다.",
                       "{company}에서 {years} 일한 {B|은} {A|과} {position} 면접을 보고 {start}부터 출근 가능하다고 말한다."],
            corrections={"start": [_x("아, 정정하겠습니다. {old|이} 아니라 {new}부터 가능합니다.",
                                      "죄송합니다, 다시 확인해 보니 {new}부터 출근할 수 있을 것 같습니다."),
                                   _y("알겠습니다. {new}부터 가능하다고 적어 두겠습니다.", "네, {new}부터로 메모해 둘게요.")]},
        ),
        "en": _Script(
            topic="job interview",
            slots={"position": ("marketing coordinator", "web developer", "accountant", "sales representative",
                                "graphic designer", "customer service agent"),
                   "company": ("Brightline Electronics", "Future Soft", "Dawn Trading", "Newpath Consulting",
                               "Onlight Design", "Bluewater Bank"),
                   "years": ("one year", "two years", "three years", "five years", "seven years"),
                   "strength": ("teamwork", "attention to detail", "problem solving", "communication", "reliability"),
                   "start": ("next month", "in two weeks", "next Monday", "on the 15th"),
                   "name": _EN_NAMES, "day": _EN_DAYS},
            openings=[[], [_b("Hello, I'm {name}. I'm here for the interview.")],
                      [_a("Welcome, please have a seat."), _b("Thank you.")],
                      [_b("Good morning. I have an interview today."), _a("Yes, welcome. Please sit down.")]],
            closings=[[], [_a("Thanks for coming in today.")], [_b("Thank you for your time."), _a("Thanks for coming in.")]],
            steps=[
                [_a("Thanks for applying for the {position} position. Could you introduce yourself?",
                    "Thank you for coming in for the {position} interview. Tell me about your experience.",
                    "Let's start. Why did you apply for the {position} job?"),
                 _b("I worked at {company} for {years}.", "I've spent {years} at {company}.",
                    "I'm {name}, and I worked at {company} for {years}.")],
                [_a("What would you say is your main strength?", "What are you best at?"),
                 _b("I think my strength is {strength}.", "I'd say {strength}.")],
                [_a("When could you start?", "If we hire you, when can you start?"),
                 _b("I can start {start}.", "I'd be available {start}.")],
            ],
            outcomes=[
                _Outcome([[_a("Thank you. We'll email you the result by {day}.", "Great, we'll let you know by {day}.")]],
                         ["{A} will send the result by {day}.", "{B} will hear back by {day}."]),
                _Outcome([[_a("Good. Please come back on {day} for a second interview.",
                              "Impressive. Let's set up a second interview on {day}."),
                           _b("Thank you, I'll be there on {day}.")]],
                         ["{A} invites {B} to a second interview on {day}.", "{B} has a second interview on {day}."]),
            ],
            summaries=["{B} interviews for the {position} job, talks about {years} at {company}, and can start {start}.",
                       "{A} interviews {B} for the {position} position; {B} worked at {company} for {years} and can start {start}.",
                       "In the {position} interview, {B} names {strength} as a strength and says they can start {start}."],
            corrections={"start": [_x("Sorry, let me correct that. I can start {new}, not {old}.",
                                      "Actually, I could only start {new}."),
                                   _y("Noted, {new} then.", "OK, I'll write down {new}.")]},
        ),
    },
)

_TRAVEL = _Scenario(
    key="travel",
    register="friends",
    changeable={"destination": ("A", "change", "unavailable"), "transport": ("A", "change"), "when": ("A", "change")},
    scripts={
        "ko": _Script(
            topic="여행 계획",
            slots={"destination": ("부산", "제주도", "강릉", "경주", "여수", "전주", "속초"),
                   "when": ("다음 달", "이번 여름", "추석 연휴", "다음 주말"),
                   "duration": ("1박 2일", "2박 3일", "3박 4일", "당일치기"),
                   "transport": ("KTX", "고속버스", "비행기"),
                   "activity": ("바다 구경", "맛집 탐방", "등산", "박물관 관람", "자전거 여행", "야시장 구경"),
                   "budget": ("20만 원", "30만 원", "50만 원")},
            steps=[
                [_a("우리 {when}에 {destination} 갈래?", "{when}에 {destination|으로} 여행 가는 거 어때?",
                    "나 {when}에 {destination} 가 보고 싶어. 같이 갈래?")],
                [_b("좋아! 며칠 정도 갈까?", "오, 좋다. 얼마나 있다 올 건데?"),
                 _a("{duration|으로} 가자.", "{duration} 정도면 딱 좋을 것 같아.")],
                [_b("뭐 타고 갈까?", "교통편은 어떻게 하지?"), _a("{transport} 타고 가자.", "{transport|이} 제일 편할 것 같아.")],
                [_b("가서 뭐 하고 싶어?", "거기 가면 뭐 할까?"), _a("{activity|은} 꼭 하고 싶어.", "{activity|은} 무조건 해야지.")],
                [_b("좋아, 그럼 {when}에 {transport} 타고 {destination} 가는 거다!", "완벽해. {destination} {duration} 여행 확정!")],
            ],
            summaries=["{A|과} {B|은} {when}에 {transport|을} 타고 {destination|으로} {duration} 여행을 가기로 한다.",
                       "{A|은} {B|에게} {when} {destination} 여행을 제안하고, 두 사람은 {transport|으로} {duration} 다녀오기로 한다.",
                       "{A|과} {B|은} {when}에 {destination}에 가서 {activity|을} 하기로 하고, {transport|을} 타고 가기로 한다."],
            details=[
                _Detail([_b("숙소는 내가 알아볼게.", "숙소 예약은 내가 할게."), _a("고마워! 그럼 나는 맛집을 찾아볼게.")],
                        ["{B|은} 숙소를 알아보기로 한다.", "숙소는 {B|이} 예약하기로 한다."]),
                _Detail([_a("경비는 얼마 정도 생각해?"), _b("한 사람당 {budget} 정도면 될 것 같아.")],
                        ["두 사람은 경비를 한 사람당 {budget} 정도로 잡는다."]),
            ],
            corrections={"transport": [_y("{old}표가 벌써 다 팔렸대. {new|은} 어때?", "찾아보니까 {old|은} 자리가 없더라. {new} 타고 가자."),
                                       _x("아쉽다. 그럼 {new} 타고 가자.", "그래, {new|도} 괜찮아.")]},
        ),
        "en": _Script(
            topic="travel plans",
            slots={"destination": ("Boston", "Seattle", "San Diego", "Chicago", "New Orleans", "Lake Tahoe", "Vancouver"),
                   "when": ("next month", "this summer", "over the long weekend", "next weekend"),
                   "duration": ("two days", "three days", "a week", "a day trip"),
                   "transport": ("train", "bus", "plane"),
                   "activity": ("see the beach", "try the local food", "go hiking", "visit museums", "rent bikes",
                                "check out the night market"),
                   "budget": ("$200", "$300", "$500")},
            steps=[
                [_a("Do you want to go to {destination} {when}?", "How about a trip to {destination} {when}?",
                    "I'd love to visit {destination} {when}. Want to come?")],
                [_b("Sure! How long should we stay?", "Sounds fun. How many days?"),
                 _a("Let's go for {duration}.", "{duration} should be perfect.")],
                [_b("How should we get there?", "Train, bus, or plane?"),
                 _a("Let's take the {transport}.", "The {transport} is the easiest.")],
                [_b("What do you want to do there?", "What should we do once we're there?"),
                 _a("I really want to {activity}.", "We have to {activity}.")],
                [_b("Great, so {destination} by {transport} {when}!", "Perfect. {duration} in {destination}, it's decided!")],
            ],
            summaries=["{A} and {B} plan to go to {destination} {when} for {duration}, taking the {transport}.",
                       "{A} suggests a trip to {destination} {when}, and they agree to go by {transport} for {duration}.",
                       "{A} and {B} decide to go to {destination} {when} to {activity}, traveling by {transport}."],
            details=[
                _Detail([_b("I'll look for a place to stay.", "I'll book the hotel."), _a("Thanks! I'll find good restaurants.")],
                        ["{B} will find a place to stay.", "{B} takes care of the hotel."]),
                _Detail([_a("How much should we budget?"), _b("About {budget} each should be enough.")],
                        ["They set a budget of about {budget} each."]),
            ],
            corrections={"transport": [_y("The {old} tickets are sold out already. How about the {new}?",
                                          "I checked, and the {old} is full. Let's take the {new}."),
                                       _x("Too bad. The {new} then.", "OK, the {new} works.")]},
        ),
    },
)

_MOVING = _Scenario(
    key="moving",
    register="friends",
    changeable={"when": ("A", "change")},
    scripts={
        "ko": _Script(
            topic="이사",
            slots={"when": ("이번 주 토요일", "다음 주 일요일", "이달 말", "다음 달 초"),
                   "area": ("회사 근처", "학교 앞", "신도시", "강 건너편", "시내"),
                   "reason": ("출퇴근이 너무 멀어서", "집주인이 월세를 올려서", "더 넓은 집이 필요해서", "조용한 동네에서 살고 싶어서"),
                   "favor": ("짐 옮기는 것", "이삿짐 싸는 것", "가구 조립하는 것"),
                   "treat": ("짜장면", "피자", "삼겹살", "치킨", "족발"),
                   "time": ("아침 8시", "아침 9시", "오전 10시", "오전 11시"),
                   "late_time": ("오후 1시", "오후 2시", "오후 3시")},
            steps=[
                [_a("나 {when}에 이사 가.", "드디어 {when}에 이사하게 됐어."),
                 _b("진짜? 어디로 가는데?", "갑자기? 어디로?"),
                 _a("{area|으로} 가. {reason}.", "{area|으로} 옮기려고. {reason}.")],
                [_b("잘됐네. 이사 준비는 다 했어?", "좋겠다. 준비는 잘 돼 가?"),
                 _a("아직 멀었어. 그래서 말인데, 그날 {favor} 좀 도와줄 수 있어?", "아니, 그래서 부탁이 있는데 {favor} 좀 도와줄래?")],
            ],
            outcomes=[
                _Outcome([[_b("당연하지. 몇 시까지 가면 돼?", "그럼, 도와줘야지. 몇 시에 갈까?"),
                           _a("{time}까지 와 주면 돼. 끝나고 {treat} 살게!", "{time}까지만 와 줘. 대신 {treat|은} 내가 쏠게."),
                           _b("좋아, {treat} 기대할게.", "콜! {time}까지 갈게.")]],
                         ["{B|은} {time}까지 가서 돕기로 하고, {A|은} {treat|을} 사기로 한다.",
                          "{B|은} 흔쾌히 돕기로 하고 {A|은} 끝나고 {treat|을} 사겠다고 한다."]),
                _Outcome([[_b("그날 오전엔 일이 있어서 {late_time}부터만 갈 수 있어.", "오전은 어렵고 {late_time}부터는 도와줄 수 있어."),
                           _a("그것만 해도 고마워. 끝나고 {treat} 먹자.", "충분해. 고마워! {treat} 살게.")]],
                         ["{B|은} 오전에는 바빠서 {late_time}부터 돕기로 한다.",
                          "{B|은} {late_time}부터만 도와줄 수 있고, {A|은} 고맙다며 {treat|을} 사기로 한다."]),
            ],
            summaries=["{A|은} {reason} {when}에 {area|으로} 이사하게 되어 {B|에게} {favor|을} 도와 달라고 부탁한다.",
                       "{A|은} {when} {area|으로} 이사를 가는데, {B|에게} {favor|을} 도와 달라고 한다.",
                       "{when}에 {area|으로} 이사하는 {A|은} {B|에게} 도움을 요청한다."],
            corrections={"when": [_x("아, 잠깐. {old|이} 아니라 {new|이야}. 날짜가 바뀌었어.",
                                     "참, 이사 날짜가 {new|으로} 바뀌었어. {old|이} 아니야."),
                                  _y("아 그래? {new|으로} 기억할게.", "알았어, {new|이구나}.")]},
        ),
        "en": _Script(
            topic="moving house",
            slots={"when": ("this Saturday", "next Sunday", "at the end of the month", "early next month"),
                   "area": ("closer to work", "near campus", "to the suburbs", "across the river", "downtown"),
                   "reason": ("the commute is too long", "the landlord raised the rent", "the current place is too small",
                              "the neighborhood is too noisy"),
                   "favor": ("carry boxes", "pack boxes", "put the furniture together", "load the truck"),
                   "treat": ("pizza", "dinner", "Korean barbecue", "fried chicken", "burgers"),
                   "time": ("8 am", "9 am", "10 am", "11 am"),
                   "late_time": ("1 pm", "2 pm", "3 pm")},
            steps=[
                [_a("I'm moving {when}.", "Guess what? I'm finally moving {when}."),
                 _b("Really? Where to?", "Wow, where are you going?"),
                 _a("{area}. {reason}.", "I'm moving {area}, because {reason}.")],
                [_b("Nice. Are you ready for the move?", "Good for you. Is everything packed?"),
                 _a("Not at all. Actually, could you help me {favor} that day?", "Not yet. Would you help me {favor}?")],
            ],
            outcomes=[
                _Outcome([[_b("Of course. What time should I come?", "Sure, when do you need me?"),
                           _a("Come by {time}. I'll buy {treat} afterwards!", "{time} would be great. {treat} is on me."),
                           _b("Deal, I'll be there at {time}.", "Sounds good, I'm looking forward to the {treat}.")]],
                         ["{B} agrees to come at {time}, and {A} will buy {treat}.",
                          "{B} will help from {time}, and {A} promises {treat} afterwards."]),
                _Outcome([[_b("I'm busy that morning, but I can come from {late_time}.",
                              "The morning is hard for me. I can help from {late_time}."),
                           _a("That's still great, thanks. {treat} is on me.", "That works. I'll buy {treat}.")]],
                         ["{B} can only help from {late_time}, and {A} will buy {treat}.",
                          "{B} is busy in the morning but will come at {late_time}."]),
            ],
            summaries=["{A} is moving {area} {when} because {reason} and asks {B} to help {favor}.",
                       "{A} tells {B} about moving {area} {when} and asks for help.",
                       "{A}, who is moving {area} {when}, asks {B} to help {favor}."],
            corrections={"when": [_x("Oh wait, it's {new}, not {old}. The date changed.",
                                     "Actually, the date changed. It's {new} now."),
                                  _y("Oh, {new}? Got it.", "OK, {new}. I'll remember.")]},
        ),
    },
)

_STUDY = _Scenario(
    key="study_group",
    register="friends",
    changeable={"day": ("A", "change", "unavailable"), "time": ("A", "change", "unavailable"), "place": ("A", "change")},
    scripts={
        "ko": _Script(
            topic="스터디 모임",
            slots={"subject": ("통계학", "경제학 원론", "자료구조", "일반화학", "영어 회화", "한국사"),
                   "exam": ("중간고사", "기말고사", "자격증 시험"),
                   "place": ("도서관 3층", "학생회관 스터디룸", "학교 앞 카페", "공대 세미나실"),
                   "day": _KO_DAYS, "time": _KO_FREE_TIMES, "friend": _KO_FRIENDS,
                   "part": ("3장", "4장부터 6장까지", "지난 과제", "기출문제", "요약 노트")},
            steps=[
                [_a("{exam} 준비 같이 할래? {subject} 너무 어려워.", "우리 {subject} 스터디 할래? {exam|이} 얼마 안 남았잖아.",
                    "{subject} {exam} 같이 공부할 사람 찾는데, 너도 할래?"),
                 _b("좋지! 언제 할 건데?", "나도 마침 걱정하고 있었어. 언제 모여?")],
                [_a("{day} {time} 어때?", "{day} {time}에 모이자.")],
                [_b("좋아. 어디서 할까?", "괜찮아. 장소는?"), _a("{place}에서 하자.", "{place|이} 조용하고 좋을 것 같아.")],
                [_b("각자 뭐 준비해 갈까?", "미리 뭐 해 가야 돼?"), _a("{part} 정리해 오자.", "각자 {part|을} 공부해 오기로 하자.")],
                [_b("알겠어. {day} {time}에 {place}에서 봐!", "오케이, 그럼 {day}에 {place}에서 보자.")],
            ],
            summaries=["{A|과} {B|은} {exam|을} 대비해 {day} {time}에 {place}에서 {subject} 스터디를 하기로 한다.",
                       "{A|은} {B|에게} {subject} 스터디를 제안하고, 두 사람은 {day} {time}에 {place}에서 만나기로 한다.",
                       "{A|과} {B|은} {day} {time}에 {place}에서 모여 {subject} {exam} 공부를 하기로 하고, 각자 {part|을} 준비해 오기로 한다."],
            details=[
                _Detail([_b("다른 친구들도 부를까?"), _a("{friend}도 같이 하자고 하자.", "{friend}한테도 물어볼게.")],
                        ["두 사람은 {friend}에게도 같이 하자고 하기로 한다.", "{A|은} {friend}도 부르자고 한다."]),
            ],
        ),
        "en": _Script(
            topic="study group",
            slots={"subject": ("statistics", "economics", "data structures", "chemistry", "English conversation", "history"),
                   "exam": ("midterm", "final exam", "certification exam"),
                   "place": ("the third floor of the library", "the student center study room", "the cafe near campus",
                             "the engineering seminar room"),
                   "day": _EN_DAYS, "time": _EN_FREE_TIMES, "friend": _EN_FRIENDS,
                   "part": ("chapter 3", "chapters 4 to 6", "last week's homework", "past exam questions",
                            "the summary notes")},
            steps=[
                [_a("Want to study together for the {exam}? {subject} is killing me.",
                    "Should we form a study group for {subject}? The {exam} is coming up.",
                    "I'm looking for people to study {subject} with before the {exam}. Are you in?"),
                 _b("Sure! When?", "I was worried too. When do we meet?")],
                [_a("How about {day} at {time}?", "Let's meet on {day} at {time}.")],
                [_b("OK. Where?", "Fine. Where should we meet?"),
                 _a("Let's use {place}.", "{place} is quiet, so let's go there.")],
                [_b("Should we prepare anything?", "What should we do before then?"),
                 _a("Let's each review {part}.", "Everyone should go over {part} first.")],
                [_b("Got it. See you on {day} at {time} at {place}!", "OK, {day} at {place} then.")],
            ],
            summaries=["{A} and {B} will study {subject} for the {exam} at {place} on {day} at {time}.",
                       "{A} suggests studying {subject} together, and they agree to meet on {day} at {time} at {place}.",
                       "{A} and {B} plan to meet at {place} on {day} at {time} to prepare for the {exam}, each reviewing {part} first."],
            details=[
                _Detail([_b("Should we invite anyone else?"), _a("Let's ask {friend} too.", "I'll ask {friend} to join.")],
                        ["They will also invite {friend}.", "{A} suggests inviting {friend}."]),
            ],
        ),
    },
)

_BIRTHDAY = _Scenario(
    key="birthday_party",
    register="friends",
    changeable={"day": ("A", "change", "unavailable"), "place": ("A", "change")},
    scripts={
        "ko": _Script(
            topic="생일 파티",
            slots={"friend": _KO_FRIENDS, "day": _KO_DAYS, "time": _KO_FREE_TIMES,
                   "place": ("치킨집", "노래방", "이탈리안 레스토랑", "보드게임 카페", "루프톱 카페", "고깃집"),
                   "gift": ("향수", "블루투스 스피커", "운동화", "꽃다발", "책", "지갑"),
                   "budget": ("만 원", "2만 원", "3만 원")},
            steps=[
                [_a("다음 주가 {friend} 생일이잖아. 깜짝 파티 해 줄까?", "{friend} 생일 파티 준비하자. 이번엔 서프라이즈로 하고 싶어.",
                    "곧 {friend} 생일인데, 우리가 파티 열어 주자."),
                 _b("좋아! 언제 할까?", "완전 좋아. 날짜는 언제로 해?")],
                [_a("{day} {time} 어때?", "{day} {time|이} 좋을 것 같아.")],
                [_b("좋아. 장소는 어디로 하지?", "장소는?"), _a("{place}에서 하자. {friend|이} 좋아하잖아.", "{place|이} 딱일 것 같아.")],
                [_b("선물은 뭘로 하지?", "선물은 뭐 사 줄까?"), _a("{gift|이} 어때? 전에 갖고 싶다고 했거든.", "{gift} 사 주자."),
                 _b("좋다. 그럼 인당 {budget}씩 모으자.", "좋아, 한 사람당 {budget}씩 걷자.")],
                [_a("그럼 {day} {time}, {place}! {friend}한테는 비밀이야.", "좋아, {day}에 {place}에서 하는 거다. {friend}한테는 절대 말하지 마.")],
            ],
            summaries=["{A|과} {B|은} {day} {time}에 {place}에서 {friend|의} 깜짝 생일 파티를 열기로 한다.",
                       "{A|은} {B|에게} {friend} 생일 파티를 제안하고, 두 사람은 {day}에 {place}에서 파티를 하며 {gift|을} 선물하기로 한다.",
                       "{A|과} {B|은} {friend|의} 생일 선물로 {gift|을} 사기로 하고, {day} {time}에 {place}에서 파티를 하기로 한다."],
            corrections={"place": [_y("아, {old|은} 그날 문 닫는대. {new|은} 어때?", "{old|은} 예약이 꽉 찼대. {new|으로} 하자."),
                                   _x("아쉽다. 그럼 {new|으로} 하자.", "그래, {new|도} 좋아.")]},
        ),
        "en": _Script(
            topic="birthday party",
            slots={"friend": _EN_FRIENDS, "day": _EN_DAYS, "time": _EN_FREE_TIMES,
                   "place": ("the chicken place", "the karaoke bar", "the Italian restaurant", "the board game cafe",
                             "the rooftop cafe", "the barbecue restaurant"),
                   "gift": ("perfume", "a bluetooth speaker", "sneakers", "flowers", "a book", "a wallet"),
                   "budget": ("$10", "$20", "$30")},
            steps=[
                [_a("{friend}'s birthday is next week. Should we throw a surprise party?",
                    "Let's plan a party for {friend}'s birthday. I want it to be a surprise.",
                    "{friend}'s birthday is coming up. Let's throw a party."),
                 _b("Yes! When?", "Love it. What day?")],
                [_a("How about {day} at {time}?", "{day} at {time} could work.")],
                [_b("Where should we have it?", "And where?"), _a("At {place}. {friend} loves it.", "{place} would be perfect.")],
                [_b("What should we get as a present?", "What about a gift?"),
                 _a("How about {gift}? {friend} mentioned wanting it.", "Let's get {gift}."),
                 _b("Good idea. Let's each put in {budget}.", "Nice. {budget} each?")],
                [_a("So {day} at {time}, {place}. Don't tell {friend}!", "OK, {day} at {place}. Keep it secret from {friend}.")],
            ],
            summaries=["{A} and {B} plan a surprise birthday party for {friend} on {day} at {time} at {place}.",
                       "{A} suggests a party for {friend}'s birthday; they will hold it at {place} on {day} and buy {gift}.",
                       "{A} and {B} decide to get {friend} {gift} and throw a party at {place} on {day} at {time}."],
            corrections={"place": [_y("{old} is closed that day. How about {new}?", "{old} is fully booked. Let's do {new}."),
                                   _x("Too bad. {new} then.", "OK, {new} is fine too.")]},
        ),
    },
)

_SCENARIOS: tuple[_Scenario, ...] = (_RESTAURANT, _DOCTOR, _HOTEL, _LOST_ITEM, _RETURNS, _INTERVIEW, _TRAVEL,
                                     _MOVING, _STUDY, _BIRTHDAY)


@dataclass(frozen=True)
class _Register:
    """What every scenario of one register shares: how people open and close, what they chat about, and
    how a value gets changed when the scenario has no wording of its own."""

    openings: Sequence[Sequence[Turn]]
    closings: Sequence[Sequence[Turn]]
    small_talk: Sequence[Sequence[Turn]]
    corrections: Mapping[str, Sequence[Turn]]


_REGISTERS: dict[tuple[str, str], _Register] = {
    ("ko", "service"): _Register(
        openings=[[], [_a("안녕하세요.", "저기요, 안녕하세요.")], [_a("안녕하세요."), _b("네, 안녕하세요. 말씀하세요.")],
                  [_b("안녕하세요, {venue}입니다. 무엇을 도와드릴까요?", "네, {venue}입니다.")],
                  [_b("안녕하세요, 무엇을 도와드릴까요?")]],
        closings=[[], [_a("감사합니다.")], [_a("네, 감사합니다."), _b("감사합니다. 좋은 하루 되세요.")],
                  [_b("더 궁금하신 점 있으세요?"), _a("아니요, 없어요. 감사합니다.")]],
        small_talk=[[_a("오늘 날씨가 정말 덥네요."), _b("그러게요, 벌써 여름 같아요.")],
                    [_b("밖에 아직 비 오나요?"), _a("네, 조금씩 오고 있어요.")],
                    [_a("요즘 많이 바쁘시죠?"), _b("네, 주말이라 문의가 좀 많네요.")],
                    [_a("지난번에는 연결되는 데 {mins}분이나 걸렸어요."), _b("불편을 드려 죄송합니다. 요즘 문의가 많아서요.")],
                    [_a("제가 {other_day}에는 계속 일이 있어서 시간이 잘 안 나요."), _b("아, 많이 바쁘시군요.")]],
        corrections={
            "change": [_x("아, 잠깐만요. {old|이} 아니라 {new|으로} 해 주시겠어요?", "죄송한데 {old} 말고 {new|으로} 바꿔도 될까요?",
                          "생각해 보니 {old|은} 좀 어렵겠어요. {new|으로} 할 수 있을까요?"),
                       _y("네, {new|으로} 변경해 드릴게요.", "물론이죠. {new|으로} 바꿔 드렸습니다.", "네, 그럼 {new|으로} 하겠습니다.")],
            "unavailable": [_y("죄송하지만 {old|은} 이미 마감되었어요. {new|은} 어떠세요?", "아, {old|은} 어렵겠네요. 대신 {new|은} 괜찮으세요?"),
                            _x("네, {new|도} 괜찮아요.", "그럼 {new|으로} 할게요.", "할 수 없죠. {new|으로} 해 주세요.")],
        },
    ),
    ("ko", "friends"): _Register(
        openings=[[], [_a("야, 뭐 해?"), _b("그냥 쉬고 있지. 왜?")], [_a("안녕! 잘 지냈어?"), _b("응, 잘 지냈지. 무슨 일이야?")],
                  [_b("어, 왔어? 무슨 일 있어?")], [_a("잠깐 얘기 좀 할 수 있어?")]],
        closings=[[], [_a("고마워!")], [_a("고마워. 나중에 또 연락할게."), _b("응, 그래!")], [_b("그럼 그때 보자."), _a("응, 안녕!")]],
        small_talk=[[_a("요즘 날씨 진짜 좋다."), _b("그러니까. 어디 놀러 가고 싶다.")],
                    [_b("너 어제 축구 봤어?"), _a("봤지! {score|으로} 이긴 거 진짜 대박이었어.")],
                    [_a("배고프다. 점심 뭐 먹었어?"), _b("그냥 김밥 먹었어.")],
                    [_b("요즘 알바는 어때?"), _a("{other_day}마다 가는데 좀 힘들어.")],
                    [_a("참, 나 {other_day}에는 약속 있어."), _b("알았어, 기억해 둘게.")]],
        corrections={
            "change": [_x("아 잠깐, {old} 말고 {new|으로} 하자.", "생각해 보니까 {old|은} 좀 별로다. {new|은} 어때?",
                          "아, 미안. {old|이} 아니라 {new|으로} 하는 게 좋겠어."),
                       _y("좋아, {new|으로} 하자.", "그래, {new|도} 괜찮아.", "응, 그럼 {new|으로} 하자.")],
            "unavailable": [_y("아, 나 {old|은} 안 될 것 같아. {new|은} 어때?", "{old|은} 좀 곤란한데, {new|으로} 하면 안 될까?"),
                            _x("그래, {new|으로} 하자.", "응, {new|도} 좋아.")],
        },
    ),
    ("en", "service"): _Register(
        openings=[[], [_a("Hello.", "Hi, good morning.")], [_a("Hi there."), _b("Hello. What can I do for you?")],
                  [_b("Good afternoon, {venue}. How can I help you?", "Hello, {venue}. What can I do for you?")],
                  [_b("Hi, how can I help you?")]],
        closings=[[], [_a("Thank you.")], [_a("Great, thanks."), _b("You're welcome. Have a nice day.")],
                  [_b("Is there anything else?"), _a("No, that's all. Thanks.")]],
        small_talk=[[_a("It's so hot today."), _b("It really is. Feels like summer already.")],
                    [_b("Is it still raining outside?"), _a("Just a little.")],
                    [_a("You must be busy today."), _b("Yes, weekends are always busy.")],
                    [_a("Last time I waited {mins} minutes on the phone."), _b("Sorry about that. We've had a lot of calls lately.")],
                    [_a("I'm tied up every {other_day}, so my schedule is tight."), _b("I understand.")]],
        corrections={
            "change": [_x("Oh, wait. Could we make it {new} instead of {old}?",
                          "Sorry, {old} won't work for me after all. Can we do {new}?",
                          "Actually, let's change that to {new}, not {old}."),
                       _y("Sure, I've changed it to {new}.", "No problem, {new} it is.", "Of course. I'll update it to {new}.")],
            "unavailable": [_y("I'm sorry, {old} is fully booked. How about {new}?", "Unfortunately {old} isn't available. Would {new} work?"),
                            _x("{new} works for me.", "OK, {new} then.", "Fine, let's do {new}.")],
        },
    ),
    ("en", "friends"): _Register(
        openings=[[], [_a("Hey, what are you up to?"), _b("Not much. Why?")],
                  [_a("Hi! How have you been?"), _b("Good, thanks. What's up?")], [_b("Oh, hey! What's going on?")],
                  [_a("Hey, got a minute?")]],
        closings=[[], [_a("Thanks!")], [_a("Thanks, talk to you later."), _b("See you!")], [_b("See you then."), _a("Bye!")]],
        small_talk=[[_a("The weather is great today."), _b("I know. I want to go somewhere.")],
                    [_b("Did you watch the game last night?"), _a("Yes! {score}, what a finish.")],
                    [_a("I'm starving. What did you have for lunch?"), _b("Just a sandwich.")],
                    [_b("How's your part-time job?"), _a("I work every {other_day}. It's tiring.")],
                    [_a("By the way, I can't do {other_day}."), _b("OK, noted.")]],
        corrections={
            "change": [_x("Oh wait, let's do {new} instead of {old}.", "Actually, {old} isn't great. What about {new}?",
                          "Hmm, on second thought, {new} would be better than {old}."),
                       _y("Sure, {new} is fine.", "OK, {new} it is.", "Sounds good, let's go with {new}.")],
            "unavailable": [_y("Hmm, {old} doesn't work for me. How about {new}?", "I can't do {old}. Could we do {new}?"),
                            _x("Sure, {new} then.", "OK, {new} works.")],
        },
    ),
}


# --------------------------------------------------------------------------------------------------
# Dialogue engine
# --------------------------------------------------------------------------------------------------


@dataclass
class _Segment:
    """A run of turns placed as a unit. ``drop_rank`` > 0 marks optional segments; the highest rank goes
    first when a dialogue is too long. ``switch`` makes later turns and the summary use a new value."""

    turns: Sequence[Turn]
    drop_rank: int = 0
    roles: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, str] = field(default_factory=dict)
    switch: tuple[str, str] | None = None
    summary: Sequence[str] = ()


@dataclass(frozen=True)
class _Dialogue:
    turns: tuple[str, ...]
    summary: str
    topic: str
    correction: tuple[str, str, str] | None
    """(slot, old value, new value) when someone changed a value; the summary carries the new one."""


_RANK_CORRECTION, _RANK_DETAIL, _RANK_OPENING, _RANK_CLOSING, _RANK_SMALL_TALK = 1, 2, 3, 4, 5


def _mentions(turn: Turn, slot: str) -> bool:
    return all(f"{{{slot}}}" in p or f"{{{slot}|" in p for p in turn[1])


def _first_mention(body: Sequence[Sequence[Turn]], slot: str) -> int | None:
    """The first step in which the slot is said whatever phrasing is drawn, so a correction can quote it."""
    for index, step in enumerate(body):
        if any(_mentions(turn, slot) for turn in step):
            return index
    return None


def _open_boundaries(body: Sequence[Sequence[Turn]]) -> list[int]:
    """Steps after which new topics may start: those that do not end on a question waiting for an answer."""
    return [i for i, step in enumerate(body) if not any(p.rstrip().endswith("?") for p in step[-1][1])]


def _pick_values(rng: random.Random, script: _Script, language: str) -> dict[str, str]:
    values = {name: rng.choice(pool) for name, pool in script.slots.items()}
    if script.bundles:
        values.update(rng.choice(script.bundles))
    values.update({name: rng.choice(pool) for name, pool in _GENERIC_SLOTS[language].items()})
    values["other_day"] = rng.choice([d for d in _DAYS[language] if d != values.get("day")])
    return values


def _plan_correction(rng: random.Random, scenario: _Scenario, script: _Script, register: _Register,
                     body: Sequence[Sequence[Turn]], values: Mapping[str, str]) -> tuple[int, _Segment] | None:
    first = {slot: _first_mention(body, slot) for slot in scenario.changeable}
    candidates = [slot for slot, index in first.items() if index is not None]
    if not candidates or rng.random() >= _P_CORRECTION:
        return None
    slot = rng.choice(candidates)
    who, *modes = scenario.changeable[slot]
    old = values[slot]
    pool = [v for v in script.slots[slot] if v not in old and old not in v]
    new = rng.choice(pool)
    mode = rng.choice(modes)
    turns = script.corrections.get(slot) or register.corrections[mode]
    start = first[slot]
    if mode == "unavailable" and slot not in script.corrections:
        boundary = start
    else:
        allowed = [b for b in _open_boundaries(body) if b >= start]
        if not allowed:
            return None
        boundary = rng.choice([b for b in allowed if b > start] or allowed)
    roles = {"X": who, "Y": "B" if who == "A" else "A"}
    return boundary, _Segment(turns, _RANK_CORRECTION, roles, {"old": old, "new": new}, (slot, new))


def _turn_count(segments: Sequence[_Segment]) -> int:
    count, previous = 0, None
    for segment in segments:
        for role, _ in segment.turns:
            role = segment.roles.get(role, role)
            if role != previous:
                count, previous = count + 1, role
    return count


def _fit_length(rng: random.Random, segments: list[_Segment], closings: Sequence[Sequence[Turn]]) -> list[_Segment]:
    """Drops optional segments until the dialogue has at most ten turns, pads it to at least four."""
    while _turn_count(segments) > _MAX_TURNS:
        rank = max(s.drop_rank for s in segments)
        if rank == 0:
            break
        segments = [s for s in segments if s.drop_rank != rank]
    while _turn_count(segments) < _MIN_TURNS:
        segments.append(_Segment(rng.choice([c for c in closings if len(c) == 2]), _RANK_CLOSING))
    return segments


def _plan_segments(rng: random.Random, scenario: _Scenario, script: _Script, register: _Register,
                   values: Mapping[str, str]) -> tuple[list[_Segment], _Outcome | None]:
    outcome = rng.choice(script.outcomes) if script.outcomes else None
    body = list(script.steps) if outcome else list(script.steps[:-1])
    ending = list(outcome.steps) if outcome else [script.steps[-1]]
    inserts: dict[int, list[_Segment]] = {}
    correction = _plan_correction(rng, scenario, script, register, body, values)
    if correction:
        inserts.setdefault(correction[0], []).append(correction[1])
    open_boundaries = _open_boundaries(body)
    if script.details and open_boundaries and rng.random() < _P_DETAIL:
        detail = rng.choice(script.details)
        inserts.setdefault(rng.choice(open_boundaries), []).append(
            _Segment(detail.turns, _RANK_DETAIL, summary=detail.summary))
    if open_boundaries and rng.random() < _P_SMALL_TALK:
        inserts.setdefault(rng.choice(open_boundaries), []).append(
            _Segment(rng.choice(register.small_talk), _RANK_SMALL_TALK))
    openings = script.openings if script.openings is not None else register.openings
    closings = script.closings if script.closings is not None else register.closings
    segments = [_Segment(rng.choice(openings), _RANK_OPENING)]
    for index, step in enumerate(body):
        segments.append(_Segment(step))
        segments.extend(inserts.get(index, ()))
    segments.extend(_Segment(step) for step in ending)
    segments.append(_Segment(rng.choice(closings), _RANK_CLOSING))
    return _fit_length(rng, [s for s in segments if s.turns], closings), outcome


def _speak(rng: random.Random, segments: Sequence[_Segment], values: dict[str, str],
           finish: Callable[[str], str]) -> list[tuple[str, str]]:
    """Renders the turns in order, merging consecutive lines of one speaker; applies value switches."""
    spoken: list[tuple[str, str]] = []
    for segment in segments:
        current = {**values, **segment.extra}
        for role, phrasings in segment.turns:
            role = segment.roles.get(role, role)
            text = finish(_render(rng.choice(phrasings), current))
            if spoken and spoken[-1][0] == role:
                spoken[-1] = (role, spoken[-1][1] + " " + text)
            else:
                spoken.append((role, text))
        if segment.switch:
            values[segment.switch[0]] = segment.switch[1]
    return spoken


def _sample_dialogue(rng: random.Random, scenario: _Scenario, language: str) -> _Dialogue:
    script = scenario.scripts[language]
    register = _REGISTERS[(language, scenario.register)]
    finish = _capitalize if language == "en" else str
    values = _pick_values(rng, script, language)
    segments, outcome = _plan_segments(rng, scenario, script, register, values)
    initial = dict(values)
    spoken = _speak(rng, segments, values, finish)
    first_role = spoken[0][0]
    tags = {first_role: "#Person1#", ("B" if first_role == "A" else "A"): "#Person2#"}
    summary_templates = [rng.choice(script.summaries)]
    if outcome:
        summary_templates.append(rng.choice(outcome.summary))
    summary_templates.extend(rng.choice(s.summary) for s in segments if s.summary)
    summary_values = {**values, **tags}
    summary = " ".join(finish(_render(t, summary_values)) for t in summary_templates)
    switch = next((s.switch for s in segments if s.switch), None)
    correction = (switch[0], initial[switch[0]], switch[1]) if switch else None
    turns = tuple(f"{tags[role]}: {text}" for role, text in spoken)
    return _Dialogue(turns, summary, script.topic, correction)


# --------------------------------------------------------------------------------------------------
# Classification tables
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Intents:
    """Customer messages by intent: an opener, one core sentence that carries the intent, a sign-off.
    ``plain`` cores carry the usual cues; ``hard`` ones mix or negate cues of another class ("not a
    complaint, but ..."); ``ambiguous`` ones are written under each of the labels listed with them, as real
    tickets are, so a few percent of the data cannot be classified with certainty and 100% is out of reach."""

    labels: Sequence[str]
    slots: Mapping[str, Sequence[str]]
    openers: Sequence[str]
    extras: Sequence[str]
    plain: Mapping[str, Sequence[str]]
    hard: Mapping[str, Sequence[str]]
    ambiguous: Sequence[tuple[str, tuple[str, ...]]]


_INTENTS: dict[str, _Intents] = {
    "ko": _Intents(
        labels=("불만", "문의", "칭찬", "취소"),
        slots={"item": ("운동화", "무선 이어폰", "전기밥솥", "노트북 가방", "블루투스 스피커", "겨울 패딩", "커피 머신", "책상 의자"),
               "n": ("2", "3", "5", "7", "10"), "order": ("20481", "31907", "44612", "58203", "69930", "73318"),
               "day": _KO_DAYS},
        openers=("", "", "안녕하세요.", "수고 많으십니다.", "주문번호 {order}번 관련해서 연락드려요.", "{day}에 주문한 사람인데요.",
                 "고객센터에 처음 글 남겨요."),
        extras=("", "", "답변 부탁드립니다.", "확인 부탁드려요.", "연락 기다리겠습니다.", "참고로 {day}에 주문했어요.",
                "빠른 처리 부탁드립니다."),
        plain={
            "불만": ("{item|이} 도착한 지 {n}일 만에 망가졌어요. 너무 실망스럽네요.", "주문한 {item|이} 파손된 상태로 왔어요. 이건 좀 아니지 않나요?",
                   "배송이 {n}일이나 늦었는데 아무 연락도 없었어요.", "상담원이 전화를 두 번이나 끊었어요. 정말 불쾌했습니다.",
                   "새로 산 {item}에 하자가 있어요. 새 제품인데 어이가 없네요.", "사진과 완전히 다른 {item|이} 왔어요. 솔직히 화가 납니다.",
                   "{item} 포장이 다 뜯겨서 왔어요. 관리를 어떻게 하시는 건지 모르겠네요."),
            "문의": ("{item} 배송은 보통 며칠 걸리나요?", "{item|을} 해외로도 보내 주시나요?", "{item} 다른 색상도 있나요?",
                   "매장 영업시간이 어떻게 되나요?", "{item} 보증 기간이 얼마나 되는지 알 수 있을까요?", "포인트는 언제 적립되나요?",
                   "{item|을} {n}개 이상 사면 할인이 되나요?"),
            "칭찬": ("{item|이} 생각보다 훨씬 좋아요. 정말 만족합니다.", "배송이 하루 만에 와서 깜짝 놀랐어요. 감사합니다!",
                   "상담원분이 친절하게 도와주셔서 문제가 금방 해결됐어요.", "{item} 품질이 가격에 비해 훌륭하네요. 친구한테도 추천했어요.",
                   "포장이 정말 꼼꼼해서 기분이 좋았습니다.", "{item|을} {n}주째 쓰고 있는데 아주 마음에 들어요."),
            "취소": ("어제 주문한 {item|을} 취소하고 싶어요.", "정기 구독을 이번 달까지만 하고 해지해 주세요.", "{day} 예약을 취소해 주실 수 있나요?",
                   "{item} 주문을 취소하려고 합니다. 결제도 취소해 주세요.", "더 이상 필요 없어져서 주문을 취소하려고요.",
                   "멤버십을 해지하고 싶습니다. 절차를 진행해 주세요."),
        },
        hard={
            "불만": ("{item} 자체는 괜찮은데 배송이 {n}일이나 늦어서 정말 짜증 났어요.", "칭찬 일색인 후기를 보고 샀는데 전혀 아니네요. {item|이} 벌써 망가졌어요.",
                   "질문이 있는 게 아니라 항의하려고요. 같은 문제가 또 생겼어요.", "취소하진 않을게요. 그래도 {item} 품질이 너무 형편없다는 건 꼭 말씀드려야겠어요."),
            "문의": ("불만은 아니고요, {item|이} 언제쯤 도착하는지 궁금해서요.", "취소하려는 건 아닌데, 배송지를 바꿀 수 있을까요?",
                   "아직 고장은 안 났는데 {item} 보증 기간이 궁금해요.", "혹시 주문 취소하면 수수료가 있나요? 아직 결정한 건 아니에요."),
            "칭찬": ("불만이 하나도 없어요. {item|이} 정말 마음에 들어요.", "처음엔 취소할까 고민했는데 써 보니 너무 좋네요.",
                   "배송이 {n}일 늦긴 했지만 {item|이} 너무 좋아서 다 괜찮아요.", "문의할 게 있어서 연락했다가 직원분 친절함에 감동했어요."),
            "취소": ("{item|은} 마음에 들었지만 사정이 생겨서 주문을 취소해야 할 것 같아요.", "문의드릴 건 없고, 그냥 구독 해지만 해 주세요.",
                   "불만은 없지만 이사 때문에 멤버십을 해지하려고 합니다.", "배송이 너무 늦어서 그냥 주문 취소할게요."),
        },
        ambiguous=(
            ("주문한 {item} 말인데요, 환불이나 취소가 되는지 궁금합니다.", ("문의", "취소")),
            ("{item|이} 기대했던 것과 좀 달라서 고민 중이에요.", ("불만", "취소")),
            ("배송은 빨랐는데 {item|은} 아직 잘 모르겠어요.", ("칭찬", "불만")),
            ("{item} 관련해서 드릴 말씀이 있어요.", ("불만", "문의", "칭찬", "취소")),
        ),
    ),
    "en": _Intents(
        labels=("complaint", "question", "praise", "cancellation"),
        slots={"item": ("rice cooker", "laptop bag", "bluetooth speaker", "winter jacket", "coffee machine", "desk chair",
                        "blender", "backpack"),
               "n": ("two", "three", "five", "seven", "ten"), "order": ("20481", "31907", "44612", "58203", "69930", "73318"),
               "day": _EN_DAYS},
        openers=("", "", "Hi there.", "Hello.", "Regarding order #{order}.", "I ordered on {day}.", "First time writing to you."),
        extras=("", "", "Please get back to me.", "Thanks for checking.", "Looking forward to your reply.",
                "For reference, I ordered on {day}.", "A quick reply would help."),
        plain={
            "complaint": ("My {item} broke after {n} days. Very disappointing.", "The {item} arrived damaged. This is not acceptable.",
                          "My delivery was {n} days late and nobody told me anything.", "Your agent hung up on me twice. That was really rude.",
                          "The new {item} has a defect. It's brand new!", "The {item} looks nothing like the photo. I'm upset.",
                          "The box for my {item} was torn open when it arrived. Terrible handling."),
            "question": ("How long does shipping usually take for the {item}?", "Do you ship the {item} overseas?",
                         "Does the {item} come in other colors?", "What are your store hours?",
                         "How long is the warranty on the {item}?", "When do reward points get added?",
                         "Is there a discount if I buy {n} or more?"),
            "praise": ("The {item} is much better than I expected. Very happy with it.", "It arrived in one day. Amazing, thank you!",
                       "The agent was so kind and fixed my problem right away.",
                       "Great quality for the price. I recommended the {item} to a friend.",
                       "The packaging was so careful. It made my day.", "I've used the {item} for {n} weeks and I love it."),
            "cancellation": ("I'd like to cancel the {item} I ordered yesterday.", "Please end my subscription after this month.",
                             "Could you cancel my booking for {day}?", "I want to cancel my {item} order and get the payment voided.",
                             "I don't need it anymore, so please cancel my order.", "I want to cancel my membership. Please go ahead."),
        },
        hard={
            "complaint": ("The {item} itself is fine, but the delivery was {n} days late and that's really annoying.",
                          "I bought this because of all the glowing reviews, but my {item} already broke.",
                          "This isn't a question, it's a complaint. It's the same problem again.",
                          "I won't cancel, but I have to say the {item} quality is awful."),
            "question": ("Not a complaint, I just wonder when my {item} will arrive.",
                         "I'm not cancelling, but can I change the delivery address?",
                         "Nothing is broken yet, but how long is the warranty on the {item}?",
                         "Is there a fee if I cancel an order? I haven't decided yet."),
            "praise": ("No complaints at all. I really love the {item}.",
                       "I almost cancelled at first, but now that I've tried it, it's wonderful.",
                       "The delivery was {n} days late, but the {item} is so good that I don't mind.",
                       "I called with a question and was blown away by how helpful the staff were."),
            "cancellation": ("I liked the {item}, but something came up and I have to cancel the order.",
                             "No questions, just cancel my subscription, please.",
                             "No complaints, but I'm moving, so please cancel my membership.",
                             "Shipping is taking forever, so just cancel my order."),
        },
        ambiguous=(
            ("About my {item} order: can it be refunded or cancelled?", ("question", "cancellation")),
            ("The {item} is not quite what I expected, so I'm thinking it over.", ("complaint", "cancellation")),
            ("Shipping was fast, but I'm not sure about the {item} yet.", ("praise", "complaint")),
            ("I have something to say about the {item}.", ("complaint", "question", "praise", "cancellation")),
        ),
    ),
}


def _sample_message(rng: random.Random, intents: _Intents, label: str, language: str) -> str:
    values = {name: rng.choice(pool) for name, pool in intents.slots.items()}
    draw = rng.random()
    if draw < _P_AMBIGUOUS:
        cores: Sequence[str] = [text for text, labels in intents.ambiguous if label in labels]
    elif draw < _P_AMBIGUOUS + _P_HARD:
        cores = intents.hard[label]
    else:
        cores = intents.plain[label]
    parts = (rng.choice(intents.openers), rng.choice(cores), rng.choice(intents.extras))
    text = " ".join(_render(p, values) for p in parts if p)
    return _capitalize(text) if language == "en" else text


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; the built-in data speaks {', '.join(LANGUAGES)}")


def _check_count(n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"the number of rows must be a non-negative integer, got {n!r}")


def _bucket(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") % 100


def _balanced(rng: random.Random, items: Sequence[str], n: int) -> list[str]:
    """Each consecutive block holds every item once, in shuffled order, so classes stay balanced."""
    out: list[str] = []
    while len(out) < n:
        block = list(items)
        rng.shuffle(block)
        out.extend(block)
    return out[:n]


_Sampler = Callable[[random.Random, str], tuple[str, dict[str, str]]]


def _unique_rows(n: int, seed: int, keys: Sequence[str], sample: _Sampler, id_prefix: str,
                 buckets: tuple[int, int]) -> list[dict[str, str]]:
    """Draws rows until each is new (by its key text) and its hash bucket lies in ``buckets``."""
    rng = random.Random(seed)
    plan = _balanced(rng, keys, n)
    low, high = buckets
    seen: set[str] = set()
    rows: list[dict[str, str]] = []
    for index, key in enumerate(plan):
        for _ in range(_MAX_ATTEMPTS_PER_ROW):
            text, row = sample(rng, key)
            if text not in seen and low <= _bucket(text) < high:
                break
        else:
            raise RuntimeError(f"could not draw {n} distinct rows; the built-in templates are exhausted")
        seen.add(text)
        rows.append({"id": f"{id_prefix}-{index:05d}", **row})
    return rows


def _summarization_rows(n: int, seed: int, language: str, id_prefix: str,
                        buckets: tuple[int, int] = (0, 100)) -> list[dict[str, str]]:
    by_key = {s.key: s for s in _SCENARIOS}

    def sample(rng: random.Random, key: str) -> tuple[str, dict[str, str]]:
        d = _sample_dialogue(rng, by_key[key], language)
        dialogue = "\n".join(d.turns)
        return dialogue, {"dialogue": dialogue, "summary": d.summary, "topic": d.topic}

    return _unique_rows(n, seed, list(by_key), sample, id_prefix, buckets)


def _classification_rows(n: int, seed: int, language: str, id_prefix: str,
                         buckets: tuple[int, int] = (0, 100)) -> list[dict[str, str]]:
    intents = _INTENTS[language]

    def sample(rng: random.Random, label: str) -> tuple[str, dict[str, str]]:
        text = _sample_message(rng, intents, label, language)
        return text, {"text": text, "label": label}

    return _unique_rows(n, seed, intents.labels, sample, id_prefix, buckets)


def generate_summarization(n: int, *, seed: int = 0, language: str = "ko") -> list[dict[str, str]]:
    """Rows with keys id, dialogue, summary, topic. Scenarios are balanced and dialogues are distinct."""
    _check_language(language)
    _check_count(n)
    return _summarization_rows(n, seed, language, f"{language}-sum-{seed}")


def generate_classification(n: int, *, seed: int = 0, language: str = "ko") -> list[dict[str, str]]:
    """Rows with keys id, text, label (label is a string class name). Classes are balanced, texts distinct."""
    _check_language(language)
    _check_count(n)
    return _classification_rows(n, seed, language, f"{language}-cls-{seed}")


def classification_labels(language: str = "ko") -> list[str]:
    """The label names, in a fixed order."""
    _check_language(language)
    return list(_INTENTS[language].labels)


def _split_seed(seed: int, split: str) -> int:
    """Derived from a hash, not from ``seed + k``, so that seed 0's validation never equals seed 1's train."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{split}".encode()).digest()[:8], "big")


def write_builtin_splits(out_dir: str | Path, *, task: str, language: str, sizes: dict[str, int],
                         seed: int = 0) -> dict[str, Path]:
    """Writes <split>.jsonl (UTF-8, ensure_ascii=False, one JSON object per line) for each split in sizes
    (keys among "train", "validation", "test"), each split with its own derived seed; returns split -> path.
    task is "summarization" or "classification". Raises ValueError with a clear message on an unknown task/language.

    Splits never share a dialogue (or message): each keeps only items whose content hash falls in its own
    bucket range, so the guarantee holds whatever the sizes and without generating the other splits."""
    if task not in _TASKS:
        raise ValueError(f"unknown task {task!r}; the built-in data covers {', '.join(_TASKS)}")
    _check_language(language)
    unknown = [s for s in sizes if s not in _SPLIT_BUCKETS]
    if unknown:
        raise ValueError(f"unknown split {unknown[0]!r}; use {', '.join(_SPLIT_BUCKETS)}")
    for count in sizes.values():
        _check_count(count)
    make = _summarization_rows if task == "summarization" else _classification_rows
    short = "sum" if task == "summarization" else "cls"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for split, buckets in _SPLIT_BUCKETS.items():
        if split not in sizes:
            continue
        rows = make(sizes[split], _split_seed(seed, split), language, f"{language}-{short}-{split}", buckets)
        path = out / f"{split}.jsonl"
        tmp = path.with_suffix(".jsonl.partial")
        with tmp.open("w", encoding="utf-8", newline="\n") as handle:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        tmp.replace(path)
        paths[split] = path
    return paths


_TURN_PREFIX = re.compile(r"^\s*#Person\d+#:\s*")


def lead_baseline(dialogue: str) -> str:
    """The copy-the-first-turn baseline: the first turn's text without its '#PersonN#:' prefix."""
    first = dialogue.strip().split("\n", 1)[0] if dialogue.strip() else ""
    return _TURN_PREFIX.sub("", first).strip()
