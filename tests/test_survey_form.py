"""The survey's web inquiry form through the Flask test client (docs/surveys.md):
the e-mailed link works once, expires, refuses forgeries; CSRF; Korean and
English; bad answers keep what was typed; customer text is escaped."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from agent_desktop import create_app
from cti.surveys.service import SurveyService
from cti.surveys.tokens import TokenSigner
from db.models import Customer, Survey, SurveyReply
from conftest import FakeClock
from support.desktop import make_stack
from support.surveys import FakeMailer, FakeSms, link_token, messaged_survey

XSS = '<script>window.__xss=1</script>'


class Web:
    def __init__(self, tmp_path, csrf=False):
        self.stack = make_stack(tmp_path, csrf=csrf, app=False)
        self.clock = FakeClock()
        self.mailer = FakeMailer()
        self.service = SurveyService(self.stack.sessions, self.stack.bus, self.stack.config,
                                     signer=TokenSigner(self.stack.config["web"]["secret_key"]), mailer=self.mailer,
                                     sms=FakeSms(), clock=self.clock)
        self.app = create_app(self.stack.config, self.stack.call_center, self.stack.sessions, self.stack.bus,
                              survey_service=self.service)
        self.stack.app = self.app

    def survey(self, pin="100100", language="ko"):
        ticket, survey_id = messaged_survey(self.service, self.stack.sessions, self.clock, pin, language)
        return survey_id, link_token(self.mailer.sent[-1]["body"])

    def row(self, survey_id):
        with self.stack.sessions() as s:
            return s.get(Survey, survey_id)

    def replies(self):
        with self.stack.sessions() as s:
            return s.scalar(select(func.count()).select_from(SurveyReply))


@pytest.fixture
def web(tmp_path):
    w = Web(tmp_path)
    yield w
    w.stack.close()


@pytest.fixture
def csrf_web(tmp_path):
    w = Web(tmp_path, csrf=True)
    yield w
    w.stack.close()


ANSWERS = {"rating": "5", "trouble_again": "no", "staff_kind": "yes", "comment": "빠르게 해결되었습니다"}


def test_link_opens_the_form_in_the_surveys_language_and_works_once(web):
    survey_id, token = web.survey()
    client = web.app.test_client()
    page = client.get(f"/survey/{token}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="survey-form"' in text
    assert "서울 서비스센터" in text and "만족" in text          # Korean: the survey's language
    done = client.post(f"/survey/{token}", data=ANSWERS)
    assert done.status_code == 200
    code = re.search(r'id="survey-coupon">([^<]+)<', done.get_data(as_text=True)).group(1)
    survey = web.row(survey_id)
    assert (survey.state, survey.rating, survey.trouble_again, survey.staff_kind, survey.channel) == \
        ("answered", 5, False, True, "web")
    assert survey.comment == ANSWERS["comment"] and code.startswith("HC-")
    for again in (client.get(f"/survey/{token}"), client.post(f"/survey/{token}", data={**ANSWERS, "rating": "1"})):
        assert again.status_code == 410 and 'data-reason="used"' in again.get_data(as_text=True)
    assert web.row(survey_id).rating == 5 and web.replies() == 1


def test_english_survey_and_the_visitors_own_language_choice(web):
    _, token = web.survey(pin="100300", language="en")
    client = web.app.test_client()
    text = client.get(f"/survey/{token}").get_data(as_text=True)
    assert "Seoul service centre" in text and "How satisfied" in text
    client.set_cookie("lang", "ko")
    assert "만족" in client.get(f"/survey/{token}").get_data(as_text=True)


def test_bad_answers_keep_what_was_typed_and_the_link_stays_usable(web):
    survey_id, token = web.survey()
    client = web.app.test_client()
    client.set_cookie("lang", "en")
    bad = client.post(f"/survey/{token}", data={**ANSWERS, "rating": "9", "comment": XSS})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 400 and 'id="survey-error"' in text and "1 to 5" in text
    assert XSS not in text and "&lt;script&gt;window.__xss=1&lt;/script&gt;" in text
    assert web.replies() == 0 and web.row(survey_id).state == "messaged"
    assert client.post(f"/survey/{token}", data={**ANSWERS, "comment": XSS}).status_code == 200
    assert web.row(survey_id).comment == XSS        # stored as text


def test_customer_name_is_escaped_on_the_form(web):
    with web.stack.sessions.begin() as s:
        s.scalar(select(Customer).where(Customer.pin == "100100")).name = XSS
    _, token = web.survey()
    text = web.app.test_client().get(f"/survey/{token}").get_data(as_text=True)
    assert XSS not in text and "&lt;script&gt;window.__xss=1&lt;/script&gt;" in text


def test_expired_forged_and_tampered_links_are_refused(web):
    survey_id, token = web.survey()
    client = web.app.test_client()
    forged = TokenSigner("another key").issue(survey_id, web.clock.now + dt.timedelta(days=1))
    for bad in (forged, token[:-3] + "xyz", "nonsense"):
        page = client.get(f"/survey/{bad}")
        assert page.status_code == 404 and 'data-reason="invalid"' in page.get_data(as_text=True)
        assert client.post(f"/survey/{bad}", data=ANSWERS).status_code == 404
    web.clock.advance(8 * 24 * 3600)
    page = client.post(f"/survey/{token}", data=ANSWERS)
    assert page.status_code == 410 and 'data-reason="expired"' in page.get_data(as_text=True)
    assert web.replies() == 0


def test_post_without_csrf_token_is_refused(csrf_web):
    survey_id, token = csrf_web.survey()
    client = csrf_web.app.test_client()
    assert client.post(f"/survey/{token}", data=ANSWERS).status_code == 400
    assert csrf_web.replies() == 0
    page = client.get(f"/survey/{token}").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post(f"/survey/{token}", data={**ANSWERS, "csrf_token": csrf}).status_code == 200
    assert csrf_web.row(survey_id).rating == 5


def test_without_the_survey_service_the_form_is_unavailable(tmp_path):
    stack = make_stack(tmp_path)
    try:
        assert stack.app.test_client().get("/survey/anything").status_code == 503
    finally:
        stack.close()
