"""The IVR's voice prompts, in Korean and English.

``generate(prompts_dir)`` speaks every prompt with espeak-ng and converts it with
sox to what Asterisk plays without transcoding work: 8 kHz, mono, 16-bit signed
PCM WAV, at ``<prompts_dir>/generated/<lang>/<name>.wav``.

Real recordings go to ``<prompts_dir>/<lang>/<name>.wav``; the managed Asterisk
copies the generated files first and the recordings over them, so a recording
replaces the synthetic prompt of the same name.  The ARI application plays them
as ``sound:happycall/<lang>/<name>``.

``python -m ivr.prompts --dir DIR [--force]`` generates the files.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

LANGUAGES = ("ko", "en")
ESPEAK_VOICES = {"ko": "ko", "en": "en-us"}
SOUND_PREFIX = "happycall"

PROMPTS: dict[str, dict[str, str]] = {
    "greeting": {
        "ko": "안녕하십니까. 해피콜 헬프데스크입니다.",
        "en": "Welcome to the HappyCall help desk.",
    },
    "enter_pin": {
        "ko": "사번을 입력하신 후 우물 정자를 눌러 주십시오. 영어 안내를 원하시면 별표를 눌러 주십시오.",
        "en": "Please enter your employee number followed by the hash key. For Korean, press star.",
    },
    "invalid_pin": {
        "ko": "입력하신 번호를 확인할 수 없습니다. 다시 입력해 주십시오.",
        "en": "That number was not recognised. Please try again.",
    },
    "pin_failed": {
        "ko": "본인 확인을 하지 못했습니다. 상담원에게 연결해 드리겠습니다.",
        "en": "We could not identify you. Connecting you to an agent.",
    },
    "describe_problem": {
        "ko": "어떤 문제인지 짧게 말씀해 주십시오.",
        "en": "Please tell us the problem in a few words.",
    },
    "please_hold": {
        "ko": "잠시만 기다려 주십시오. 곧 상담원이 연결됩니다.",
        "en": "Please hold, an agent will be with you shortly.",
    },
    "connecting": {
        "ko": "지금 상담원에게 연결해 드리겠습니다.",
        "en": "Connecting you to an agent now.",
    },
    "goodbye": {
        "ko": "전화해 주셔서 감사합니다. 안녕히 계십시오.",
        "en": "Thank you for calling. Goodbye.",
    },
    # The ARS menu of inquiry types.  It names the demo queues (db/seed.py); a centre
    # with other queues records its own menu (a recording replaces this file).
    "choose_queue": {
        "ko": "PC 문의는 1번, 네트워크 문의는 2번, 업무 애플리케이션 문의는 3번, 오피스 소프트웨어 문의는 4번을 "
              "눌러 주십시오. 그 밖의 문의는 잠시 기다려 주십시오.",
        "en": "For PCs and laptops, press 1. For the network, press 2. For business applications, press 3. "
              "For office software, press 4. For anything else, please hold.",
    },
    "position_intro": {"ko": "고객님의 대기 순서는", "en": "You are number"},
    "position_outro": {"ko": "번째입니다.", "en": "in line."},
    "wait_intro": {"ko": "예상 대기 시간은 약", "en": "Your estimated wait is about"},
    "wait_minutes": {"ko": "분입니다.", "en": "minutes."},
    "wait_under_minute": {"ko": "곧 연결됩니다.", "en": "You will be connected in less than a minute."},
    "offer_callback": {
        "ko": "기다리지 않고 나중에 전화를 받으시려면 1번을 눌러 주십시오. 대기 순서는 그대로 유지됩니다.",
        "en": "To keep your place in line and be called back, press 1.",
    },
    "callback_confirmed": {
        "ko": "순서가 되면 상담원이 전화 드리겠습니다. 감사합니다.",
        "en": "An agent will call you back when it is your turn. Thank you.",
    },
    "callback_greeting": {
        "ko": "해피콜 헬프데스크입니다. 요청하신 전화입니다. 상담원을 연결합니다.",
        "en": "This is the HappyCall help desk calling you back. Connecting you to an agent.",
    },
    # The satisfaction survey call (ivr/flows/survey.py, docs/surveys.md).
    "survey_intro": {
        "ko": "해피콜 헬프데스크입니다. 최근 처리해 드린 서비스에 대해 여쭙겠습니다. 상담원과 통화하시려면 언제든 0번을 눌러 주십시오.",
        "en": "This is the HappyCall help desk with a few questions about the service we recently gave you. "
              "To talk to a person at any time, press 0.",
    },
    "survey_q_rating": {
        "ko": "서비스에 얼마나 만족하셨습니까? 매우 불만족은 1번, 매우 만족은 5번, 1번부터 5번 중에 눌러 주십시오.",
        "en": "How satisfied are you with the service? Press 1 for very dissatisfied up to 5 for very satisfied.",
    },
    "survey_q_trouble": {
        "ko": "같은 문제가 다시 발생했습니까? 예는 1번, 아니오는 2번을 눌러 주십시오.",
        "en": "Did the trouble come back? For yes press 1, for no press 2.",
    },
    "survey_q_kind": {
        "ko": "담당 직원은 친절했습니까? 예는 1번, 아니오는 2번을 눌러 주십시오.",
        "en": "Was our agent or technician kind? For yes press 1, for no press 2.",
    },
    "survey_comment": {
        "ko": "그 밖에 하실 말씀이 있으면 지금 말씀해 주십시오.",
        "en": "If there is anything else you would like to tell us, please say it now.",
    },
    "survey_thanks": {
        "ko": "응답해 주셔서 감사합니다. 감사의 뜻으로 드리는 쿠폰 번호를 메일이나 문자로 보내 드립니다. 안녕히 계십시오.",
        "en": "Thank you for your answers. We send you a coupon code by e-mail or text message as our thanks. "
              "Goodbye.",
    },
    # Early warning (docs/alarms.md): the voice alert on the agents' phones and the hot line.
    "alarm_alert": {
        "ko": "긴급 장애 경보입니다. 상담 화면의 경보 내용을 확인해 주십시오.",
        "en": "Urgent infrastructure alarm. Please check the alarm on your desktop.",
    },
    "alarm_hotline": {
        "ko": "핫라인 회의가 열렸습니다. 핫라인 번호로 전화하시면 참여하실 수 있습니다.",
        "en": "A hot line conference is open. Dial the hot line number to join it.",
    },
    "hotline_none": {
        "ko": "지금 열려 있는 핫라인이 없습니다.",
        "en": "There is no open hot line at the moment.",
    },
    "technical_problem": {
        "ko": "죄송합니다. 기술적인 문제가 발생했습니다. 잠시 후 다시 전화해 주십시오.",
        "en": "We are sorry, a technical problem occurred. Please call again.",
    },
    # The happy call (ivr/flows/happy_call.py): greeting, "your request" + its number said
    # digit by digit, the status, then the update's text (spoken at run time) and goodbye.
    "happy_greeting": {
        "ko": "안녕하십니까. 해피콜 헬프데스크에서 요청하신 건의 진행 상황을 알려 드립니다.",
        "en": "Hello, this is the HappyCall help desk with news about your request.",
    },
    "happy_your_request": {"ko": "요청 번호", "en": "Your request number"},
    "happy_status_progress": {
        "ko": "현재 처리 중입니다. 최근 진행 내용은 다음과 같습니다.",
        "en": "is in progress. The latest update is:",
    },
    "happy_status_resolved": {
        "ko": "처리가 완료되었습니다.",
        "en": "is resolved.",
    },
    "happy_status_overdue": {
        "ko": "계속 처리 중입니다. 다음 진행 내용이 나오면 다시 알려 드리겠습니다.",
        "en": "is still being worked on. We will call you again with the next update.",
    },
    "happy_status_update": {
        "ko": "새로운 진행 내용이 있습니다. 자세한 내용은 헬프데스크로 문의해 주십시오.",
        "en": "has a new update. Please contact the help desk for the details.",
    },
    "happy_goodbye": {
        "ko": "감사합니다. 안녕히 계십시오.",
        "en": "Thank you. Goodbye.",
    },
}
# Digits of an incident number (Korean Sino-Korean digit names, spoken one by one).
PROMPTS.update({f"digit_{d}": {"ko": "공일이삼사오육칠팔구"[d], "en": str(d)} for d in range(10)})

#: Numbers said in announcements (queue position, minutes of wait).
MAX_NUMBER = 30
PROMPTS.update({f"n{i}": {"ko": str(i), "en": str(i)} for i in range(1, MAX_NUMBER + 1)})

# The survey reply line (ivr/flows/reply_line.py, docs/sms.md).
PROMPTS.update({
    "reply_menu": {
        "ko": "해피콜 만족도 조사 회신 전화입니다. 키패드로 응답하시려면 1번, 담당자와 통화하시려면 2번을 눌러 주십시오.",
        "en": "This is the HappyCall survey reply line. To answer with your keypad, press 1. "
              "To talk to someone, press 2.",
    },
    "reply_rate": {
        "ko": "받으신 서비스에 만족하신 정도를 1번부터 5번 사이로 눌러 주십시오. 5번이 가장 만족입니다.",
        "en": "Please rate the service you received from 1 to 5, 5 being the best.",
    },
    "reply_thanks": {
        "ko": "응답해 주셔서 감사합니다. 안녕히 계십시오.",
        "en": "Thank you for your answer. Goodbye.",
    },
    "reply_invalid": {
        "ko": "잘못 누르셨습니다.",
        "en": "That key is not valid.",
    },
    "reply_no_survey": {
        "ko": "고객님 번호로 진행 중인 만족도 조사가 없습니다. 헬프데스크로 전화해 주십시오. 감사합니다.",
        "en": "We have no survey waiting for your number. Please call the help desk. Thank you.",
    },
})


class PromptError(RuntimeError):
    """The prompts cannot be generated (missing tool, failed conversion)."""


def sound_name(name: str, lang: str) -> str:
    """The Asterisk sound name of a prompt, e.g. ``happycall/ko/greeting`` (play ``sound:`` + this)."""
    if name not in PROMPTS:
        raise KeyError(f"unknown prompt {name!r}")
    return f"{SOUND_PREFIX}/{lang}/{name}"


def prompt_path(prompts_dir: Path, name: str, lang: str) -> Path:
    return Path(prompts_dir) / "generated" / lang / f"{name}.wav"


def _tools() -> tuple[str, str]:
    espeak = shutil.which("espeak-ng")
    sox = shutil.which("sox")
    missing = [n for n, p in (("espeak-ng", espeak), ("sox", sox)) if not p]
    if missing:
        raise PromptError(f"{' and '.join(missing)} not installed: run `apt-get install -y espeak-ng sox` "
                          "(scripts/bootstrap.sh does it)")
    return espeak, sox  # type: ignore[return-value]


def _run(cmd: list[str], what: str) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise PromptError(f"{what}: timed out") from None
    if proc.returncode != 0:
        raise PromptError(f"{what} failed (exit {proc.returncode}): "
                          f"{proc.stderr.decode(errors='replace').strip()[-500:]}")


def synthesize(text: str, lang: str, target: Path) -> None:
    """Speak ``text`` into ``target`` (8 kHz mono 16-bit signed PCM WAV), atomically."""
    espeak, sox = _tools()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="happycall-tts-") as tmp:
        raw = Path(tmp) / "tts.wav"
        out = Path(tmp) / "out.wav"
        _run([espeak, "-v", ESPEAK_VOICES.get(lang, lang), "-s", "150", "-w", str(raw), "--", text],
             f"espeak-ng ({lang})")
        # pad 0.2 s of silence at both ends, normalize to -3 dBFS, resample to 8 kHz
        _run([sox, str(raw), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(out),
              "gain", "-n", "-3", "pad", "0.2", "0.2"], f"sox ({target.name})")
        tmp_target = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(out, tmp_target)
        os.replace(tmp_target, target)


def generate(prompts_dir: Path, force: bool = False, languages: tuple[str, ...] = LANGUAGES) -> list[Path]:
    """Generate every prompt in every language; return the files written.

    Existing files are skipped unless ``force`` or their text changed (each
    generated file has a ``.txt`` beside it with the text it was made from).
    """
    prompts_dir = Path(prompts_dir)
    written: list[Path] = []

    def current(name: str, lang: str) -> bool:
        path = prompt_path(prompts_dir, name, lang)
        source = path.with_suffix(".txt")
        return path.is_file() and source.is_file() and source.read_text(encoding="utf-8") == PROMPTS[name][lang]

    todo = [(name, lang) for name in PROMPTS for lang in languages if force or not current(name, lang)]
    if not todo:
        return written
    _tools()
    for name, lang in todo:
        target = prompt_path(prompts_dir, name, lang)
        synthesize(PROMPTS[name][lang], lang, target)
        target.with_suffix(".txt").write_text(PROMPTS[name][lang], encoding="utf-8")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ivr.prompts", description="Generate the IVR prompts.")
    parser.add_argument("--dir", default=None,
                        help="prompts folder (default: ivr.prompts_dir of the configuration)")
    parser.add_argument("--force", action="store_true", help="regenerate existing files")
    args = parser.parse_args(argv)
    directory = args.dir
    if directory is None:
        try:
            from cti.config import load
            directory = load()["ivr"]["prompts_dir"]
        except Exception as exc:  # noqa: BLE001 - report any configuration problem plainly
            print(f"error: cannot read the configuration: {exc}", file=sys.stderr)
            return 2
    try:
        written = generate(Path(directory), force=args.force)
    except PromptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    total = len(PROMPTS) * len(LANGUAGES)
    print(f"prompts: {len(written)} generated, {total - len(written)} already present "
          f"in {directory}/generated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
