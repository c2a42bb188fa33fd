"""The survey inquiry as e-mail and SMS text (pure: data in, text out).

An inquiry, not a report: the questions, how to answer on each channel (reply
to the e-mail, answer the SMS, the web form link, call the centre's survey
line or its person in charge), the events running at the company in a line
each, and the incentive granted on reply.  Plain text only (no HTML, nothing
from the customer is interpreted); the mailer keeps headers to one line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

MAX_CAMPAIGN_CHARS = 120
MAX_SMS_CAMPAIGN_CHARS = 40


@dataclass(frozen=True)
class Inquiry:
    language: str                 # ko|en
    customer_name: str
    incident_id: str
    centre_name: str
    reply_line: str               # the ARS survey line of the centre
    person_phone: str             # the centre's person in charge
    reply_address: str            # e-mail replies go here
    incentive: str                # what a reply earns, e.g. "a coffee coupon"
    form_url: Optional[str] = None
    campaigns: tuple[str, ...] = field(default_factory=tuple)
    resend: bool = False
    reference: str = ""           # the signed reply reference, e.g. "[S42-...]" (an e-mail reply names its survey)


TEXT = {
    "ko": {
        "subject": "[{centre}] 서비스 만족도 조사 ({incident})",
        "resend": "[다시 안내] ",
        "hello": "{name} 고객님, 안녕하십니까.",
        "intro": "{centre}입니다. 최근 처리해 드린 서비스({incident})에 대해 몇 가지 여쭙고자 합니다.",
        "questions": ("1. 서비스에 얼마나 만족하셨습니까? (1 매우 불만 ~ 5 매우 만족)\n"
                      "2. 같은 문제가 다시 발생했습니까? (1 예 / 2 아니오)\n"
                      "3. 담당 직원은 친절했습니까? (1 예 / 2 아니오)\n"
                      "4. 그 밖에 하실 말씀이 있으면 적어 주십시오."),
        "how": "답하시는 방법",
        "by_form": "- 웹 설문: {url} (한 번만 사용할 수 있습니다)",
        "by_mail": "- 이 메일에 회신: 예) \"5 1 1 프린터가 잘 됩니다\"",
        "by_sms": "- 문자 회신: 만족도 숫자(1-5)와 의견",
        "by_phone": "- 전화: 설문 회신 전화 {line} (자동 응답 또는 상담원 연결)",
        "by_person": "- 담당자 직통: {phone}",
        "incentive": "답해 주시면 {incentive}을(를) 드립니다.",
        "events": "진행 중인 행사",
        "bye": "감사합니다.\n{centre}",
        "sms": "[{centre}] {incident} 서비스 만족도(1-5)와 의견을 회신해 주세요.",
        "sms_phone": " 전화 {line}",
        "sms_incentive": " 회신 시 {incentive}",
    },
    "en": {
        "subject": "[{centre}] How did we do? ({incident})",
        "resend": "[Reminder] ",
        "hello": "Dear {name},",
        "intro": "This is {centre}. We recently handled your request {incident} and would like to ask you "
                 "a few questions.",
        "questions": ("1. How satisfied are you with the service? (1 very dissatisfied .. 5 very satisfied)\n"
                      "2. Did the trouble come back? (1 yes / 2 no)\n"
                      "3. Was our agent or technician kind? (1 yes / 2 no)\n"
                      "4. Anything else you would like to tell us?"),
        "how": "How to answer",
        "by_form": "- Web form: {url} (works once)",
        "by_mail": "- Reply to this e-mail, e.g. \"5 2 1 the printer works\"",
        "by_sms": "- Text message: a rating 1-5 and your comment",
        "by_phone": "- Phone: our survey line {line} (keypad or a person)",
        "by_person": "- The person in charge: {phone}",
        "incentive": "Every reply earns {incentive}.",
        "events": "Running now",
        "bye": "Thank you.\n{centre}",
        "sms": "[{centre}] {incident}: please reply with a rating 1-5 and a comment.",
        "sms_phone": " Call {line}.",
        "sms_incentive": " Reply for {incentive}.",
    },
}


def _text(language: str) -> dict[str, str]:
    return TEXT.get(language, TEXT["ko"])


def _short(text: str, limit: int) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def email_subject(inquiry: Inquiry) -> str:
    t = _text(inquiry.language)
    prefix = t["resend"] if inquiry.resend else ""
    suffix = f" {inquiry.reference}" if inquiry.reference else ""
    return prefix + t["subject"].format(centre=inquiry.centre_name, incident=inquiry.incident_id) + suffix


def email_body(inquiry: Inquiry) -> str:
    t = _text(inquiry.language)
    lines = [t["hello"].format(name=inquiry.customer_name or ""), "",
             t["intro"].format(centre=inquiry.centre_name, incident=inquiry.incident_id), "",
             t["questions"], "", t["how"]]
    if inquiry.form_url:
        lines.append(t["by_form"].format(url=inquiry.form_url))
    lines.append(t["by_mail"])
    lines.append(t["by_sms"])
    if inquiry.reply_line:
        lines.append(t["by_phone"].format(line=inquiry.reply_line))
    if inquiry.person_phone:
        lines.append(t["by_person"].format(phone=inquiry.person_phone))
    if inquiry.incentive:
        lines += ["", t["incentive"].format(incentive=inquiry.incentive)]
    if inquiry.campaigns:
        lines += ["", t["events"] + ":"]
        lines += [f"* {_short(c, MAX_CAMPAIGN_CHARS)}" for c in inquiry.campaigns]
    lines += ["", t["bye"].format(centre=inquiry.centre_name)]
    return "\n".join(lines) + "\n"


def sms_text(inquiry: Inquiry) -> str:
    """One short message: the question, the reply line, the incentive, one event."""
    t = _text(inquiry.language)
    text = t["sms"].format(centre=inquiry.centre_name, incident=inquiry.incident_id)
    if inquiry.reply_line:
        text += t["sms_phone"].format(line=inquiry.reply_line)
    if inquiry.incentive:
        text += t["sms_incentive"].format(incentive=inquiry.incentive)
    if inquiry.campaigns:
        text += " / " + _short(inquiry.campaigns[0], MAX_SMS_CAMPAIGN_CHARS)
    return (t["resend"] if inquiry.resend else "") + text
