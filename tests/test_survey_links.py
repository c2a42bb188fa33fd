"""The adapters joining the survey service with the SMS service, the reply
classifier and the reply line (cti/surveys/links.py)."""
from cti.events import EventBus
from cti.surveys import links


class FakeSurveys:
    def __init__(self, pending):
        self.pending, self.replies = pending, []

    def pending_for(self, number="", email=""):
        return self.pending.get(number)

    def record_reply(self, survey_id, channel, raw="", answers=None):
        self.replies.append((survey_id, channel, raw, answers))

    def call_target(self, survey_id):
        return {"survey_id": survey_id, "queue": "helpdesk"}

    def pop_view(self, survey_id):
        return {"survey_id": survey_id, "rating": 2, "replies": [{"channel": "sms", "text": "또 고장"}]}


class FakeSms:
    def __init__(self, status="sent", error=None):
        self.status, self.error, self.sent = status, error, []

    def send(self, to, text, sender=""):
        if self.error:
            raise self.error
        self.sent.append((to, text, sender))
        return {"status": self.status}


def test_an_sms_from_a_customer_with_a_pending_survey_is_its_reply():
    bus, surveys = EventBus(), FakeSurveys({"01055501234": 7})
    replies = links.SmsReplies(surveys, bus)
    bus.publish(links.SMS_RECEIVED, {"id": 1, "from": "01055501234", "text": "또 고장났어요"})
    bus.publish(links.SMS_RECEIVED, {"id": 2, "from": "01099999999", "text": "누구세요"})
    replies.close()
    bus.publish(links.SMS_RECEIVED, {"id": 3, "from": "01055501234", "text": "after close"})
    assert surveys.replies == [(7, "sms", "또 고장났어요", None)]


def test_sms_sender_reports_whether_the_message_went_out():
    assert links.SmsSenderAdapter(FakeSms()).send("0105550", "hi") is True
    assert links.SmsSenderAdapter(FakeSms(status="failed")).send("0105550", "hi") is False
    assert links.SmsSenderAdapter(FakeSms(error=ValueError("bad number"))).send("x", "hi") is False


def test_survey_terms_come_from_the_classifier_and_unknown_text_has_none():
    assert links.survey_term("또 고장났어요", "ko") == "repeated_trouble"
    assert links.survey_term("It broke again", "en") == "repeated_trouble"
    assert links.survey_term("zzz qqq", "en") == ""


def test_reply_line_lookups_ask_the_survey_service():
    surveys = FakeSurveys({"0255501234": 3})
    assert links.reply_line_lookup(surveys)("0255501234") == {
        "survey_id": 3, "queue": "helpdesk", "rating": 2, "replies": [{"channel": "sms", "text": "또 고장"}]}
    assert links.reply_line_lookup(surveys)("000") is None
    links.reply_line_rating(surveys)(3, 4)
    assert surveys.replies == [(3, "line", "", {"rating": 4})]
