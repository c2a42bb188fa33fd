"""SMS without Asterisk: the service (stored messages, duplicates, bus topics),
the HTTP gateway against a local WSGI provider stub, the SIP MESSAGE routing
helpers and the [sms] configuration."""
from __future__ import annotations

import json
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from sqlalchemy import select

from cti.config import ConfigError, load
from cti.sms import (SMS_DUPLICATE, SMS_RECEIVED, SMS_SENT, HttpSmsGateway, InboundSms, SmsError,
                     SmsSendError, SmsService, build_gateway, clean_number)
from db.models import SmsMessage
from ivr.sms import message_destination, sender_number


class RecordingGateway:
    name = "fake"

    def __init__(self, fail: str = ""):
        self.sent: list[tuple[str, str, str]] = []
        self.fail = fail
        self.handler = None

    def send(self, to, text, sender):
        if self.fail:
            raise SmsSendError(self.fail)
        self.sent.append((to, text, sender))
        return f"ref-{len(self.sent)}"

    def set_inbound_handler(self, handler):
        self.handler = handler


@pytest.fixture
def topics(bus):
    seen: list[tuple[str, dict]] = []
    for topic in (SMS_RECEIVED, SMS_DUPLICATE, SMS_SENT):
        bus.subscribe(topic, lambda t, p: seen.append((t, p)))
    return seen


@pytest.fixture
def service(db, bus, clock):
    factory, _ = db
    return SmsService(factory, bus, RecordingGateway(), default_sender="1650",
                      duplicate_window_seconds=600, clock=clock)


def stored(db):
    factory, _ = db
    with factory() as s:
        return list(s.scalars(select(SmsMessage).order_by(SmsMessage.id)))


# --- sending -------------------------------------------------------------------------

def test_send_goes_through_the_gateway_and_is_stored(service, db, topics):
    result = service.send("010-5550-0101", "만족도 조사: 1~5로 답해 주세요")
    assert service.gateway.sent == [("01055500101", "만족도 조사: 1~5로 답해 주세요", "1650")]
    assert result["status"] == "sent" and result["reference"] == "ref-1"
    (row,) = stored(db)
    assert (row.direction, row.number, row.status, row.sender, row.gateway) == \
        ("out", "01055500101", "sent", "1650", "fake")
    assert topics == [(SMS_SENT, result)]


def test_a_gateway_failure_is_stored_with_its_reason_and_not_raised(db, bus, clock):
    factory, _ = db
    service = SmsService(factory, bus, RecordingGateway(fail="provider down"), clock=clock)
    result = service.send("01055500101", "hello")
    assert result["status"] == "failed" and "provider down" in result["error"]
    (row,) = stored(db)
    assert row.status == "failed" and "provider down" in row.error


@pytest.mark.parametrize("number,text", [("", "hi"), ("010-abc", "hi"), ("0101234", "   "),
                                         ("0101234", "x" * 2001), ("01012<script>", "hi")])
def test_bad_number_or_text_is_refused_and_nothing_is_stored(service, db, number, text):
    with pytest.raises(SmsError):
        service.send(number, text)
    assert stored(db) == [] and service.gateway.sent == []


def test_without_a_gateway_the_message_is_stored_as_failed(db, bus, clock):
    factory, _ = db
    result = SmsService(factory, bus, None, clock=clock).send("0101234", "hi")
    assert result["status"] == "failed" and "no SMS gateway" in result["error"]


# --- receiving and duplicates -------------------------------------------------------------

def test_a_reply_is_stored_and_published(service, db, topics, clock):
    service.gateway.handler(InboundSms(sender="01055500101", text=" 5 ", gateway="sip"))
    (row,) = stored(db)
    assert (row.direction, row.number, row.text, row.status) == ("in", "01055500101", "5", "received")
    assert topics == [(SMS_RECEIVED, {"id": row.id, "from": "01055500101", "text": "5",
                                      "received_at": clock().isoformat() + "Z", "gateway": "sip"})]


def test_the_same_text_again_within_the_window_is_a_duplicate(service, db, topics, clock):
    first = service.receive(InboundSms("01055500101", "좋아요", gateway="sip"))
    clock.advance(120)
    second = service.receive(InboundSms("01055500101", "좋아요", gateway="sip"))
    assert second["status"] == "duplicate" and second["duplicate_of"] == first["id"]
    assert [t for t, _ in topics] == [SMS_RECEIVED, SMS_DUPLICATE]
    assert topics[1][1]["duplicate_of"] == first["id"]
    # a third copy still points at the first, not at the duplicate
    clock.advance(120)
    assert service.receive(InboundSms("01055500101", "좋아요"))["duplicate_of"] == first["id"]
    assert [r.status for r in stored(db)] == ["received", "duplicate", "duplicate"]


def test_other_text_other_sender_or_after_the_window_is_new(service, topics, clock):
    service.receive(InboundSms("01055500101", "좋아요"))
    assert service.receive(InboundSms("01055500101", "또 고장났어요"))["status"] == "received"
    assert service.receive(InboundSms("01055500102", "좋아요"))["status"] == "received"
    clock.advance(601)
    assert service.receive(InboundSms("01055500101", "좋아요"))["status"] == "received"
    assert [t for t, _ in topics] == [SMS_RECEIVED] * 4


def test_a_message_without_a_usable_sender_is_kept_as_rejected_and_not_published(service, db, topics):
    result = service.receive(InboundSms("anonymous", "hello", raw_from='"x" <sip:anonymous@invalid>'))
    assert result["status"] == "rejected"
    (row,) = stored(db)
    assert row.status == "rejected" and row.text == "hello" and "anonymous" in row.error
    assert topics == []


# --- the HTTP gateway against a provider stub ------------------------------------------------

class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def provider():
    """A local SMS provider: records each POST; answers what ``replies`` says next."""
    calls: list[dict] = []
    replies: list[tuple[str, dict]] = []

    def app(environ, start_response):
        size = int(environ.get("CONTENT_LENGTH") or 0)
        calls.append({"path": environ["PATH_INFO"], "method": environ["REQUEST_METHOD"],
                      "auth": environ.get("HTTP_AUTHORIZATION", ""), "type": environ.get("CONTENT_TYPE", ""),
                      "query": environ.get("QUERY_STRING", ""),
                      "body": json.loads(environ["wsgi.input"].read(size) or b"null")})
        status, body = replies.pop(0) if replies else ("200 OK", {"id": f"msg-{len(calls)}"})
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    server = make_server("127.0.0.1", 0, app, server_class=WSGIServer, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="sms-provider-stub")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1/messages", calls, replies
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_http_gateway_posts_json_with_the_token(provider, db, bus, clock):
    url, calls, _ = provider
    factory, _ = db
    service = SmsService(factory, bus, build_gateway({"gateway": "http", "http_url": url, "http_token": "s3cret"}),
                         default_sender="1650", clock=clock)
    result = service.send("01055500101", "설문에 답해 주세요")
    assert result["status"] == "sent" and result["reference"] == "msg-1"
    (call,) = calls
    assert call["method"] == "POST" and call["path"] == "/v1/messages"
    assert call["auth"] == "Bearer s3cret" and call["type"].startswith("application/json")
    assert call["body"] == {"to": "01055500101", "text": "설문에 답해 주세요", "sender": "1650"}


def test_http_gateway_error_answer_is_a_failed_message(provider, db, bus, clock):
    url, calls, replies = provider
    replies.append(("503 Service Unavailable", {"error": "busy"}))
    factory, _ = db
    service = SmsService(factory, bus, HttpSmsGateway(url), clock=clock)
    result = service.send("01055500101", "hi")
    assert result["status"] == "failed" and "503" in result["error"]
    assert calls[0]["auth"] == ""     # no token configured: no header


def test_http_gateway_unreachable_raises_send_error():
    from support.sipp import free_port

    gateway = HttpSmsGateway(f"http://127.0.0.1:{free_port(udp=False, tcp=True)}/", timeout=2)
    with pytest.raises(SmsSendError, match="not reachable"):
        gateway.send("0101234", "hi", "1650")


def test_http_gateway_inbound_webhook_payload_reaches_the_service(service, db, topics):
    gateway = HttpSmsGateway("http://127.0.0.1:9/")
    service.attach(gateway)
    gateway.deliver({"from": "+82 10 5550 0101", "text": "Still not working"})
    (row,) = stored(db)
    assert row.number == "+821055500101" and row.gateway == "http"
    assert topics[0][0] == SMS_RECEIVED


def test_gateway_choice_and_configuration_errors(tmp_path):
    with pytest.raises(SmsError, match="http_url"):
        build_gateway({"gateway": "http", "http_url": ""})
    with pytest.raises(SmsError, match="telephony"):
        build_gateway({"gateway": "sip"})
    with pytest.raises(SmsError, match="smpp"):
        build_gateway({"gateway": "smpp"})
    with pytest.raises(SmsError, match="http"):
        HttpSmsGateway("ftp://example")
    base = {"data": {"dir": str(tmp_path)}}
    with pytest.raises(ConfigError, match="sms.gateway"):
        load(environ={}, overrides={**base, "sms": {"gateway": "pigeon"}})
    with pytest.raises(ConfigError, match="http_url"):
        load(environ={}, overrides={**base, "sms": {"gateway": "http"}})
    assert load(environ={"HAPPYCALL_SMS_GATEWAY": "http", "HAPPYCALL_SMS_HTTP_URL": "https://sms.example/api"},
                overrides=base)["sms"]["gateway"] == "http"


# --- SIP MESSAGE routing helpers ----------------------------------------------------------------

def test_sip_gateway_asks_ari_to_send_and_reports_a_refusal(provider):
    from urllib.parse import parse_qs

    from ivr.sms import SipMessageGateway

    url, calls, replies = provider
    ari = url.rsplit("/v1/messages", 1)[0] + "/"
    gateway = SipMessageGateway(ari, "happycall", "pw", {"sip_from": "sip:{sender}@pbx.example"},
                                callback_dial="PJSIP/phones/sip:{number}@127.0.0.1:5090")
    replies.append(("202 Accepted", {}))
    assert gateway.send("010-5550-0101", "안녕하세요", "1650") == "pjsip:phones/sip:01055500101@127.0.0.1:5090"
    (call,) = calls
    assert call["method"] == "PUT" and call["path"] == "/ari/endpoints/sendMessage"
    assert call["auth"].startswith("Basic ")
    assert parse_qs(call["query"]) == {"to": ["pjsip:phones/sip:01055500101@127.0.0.1:5090"],
                                       "from": ["sip:1650@pbx.example"], "body": ["안녕하세요"]}
    replies.append(("404 Not Found", {"message": "Endpoint not found"}))
    with pytest.raises(SmsSendError, match="404"):
        gateway.send("0101", "x", "1650")


@pytest.mark.parametrize("dial,expected", [
    ("PJSIP/{number}", "pjsip:01055500101"),
    ("PJSIP/phones/sip:{number}@127.0.0.1:5090", "pjsip:phones/sip:01055500101@127.0.0.1:5090"),
    ("PJSIP/{number}@trunk", "pjsip:PJSIP/01055500101@trunk"),
])
def test_message_destination_follows_the_callback_route(dial, expected):
    assert message_destination("010-5550-0101", callback_dial=dial) == expected


def test_message_destination_override_and_refusals():
    assert message_destination("0101", sip_to="pjsip:sms/sip:{number}@gw") == "pjsip:sms/sip:0101@gw"
    with pytest.raises(SmsError):
        message_destination("0101", callback_dial="DAHDI/g1/{number}")
    with pytest.raises(SmsError):
        message_destination("0101;x=y")


@pytest.mark.parametrize("header,number", [
    ('"Hong" <sip:01055500101@127.0.0.1:5099>', "01055500101"),
    ("<sip:+821055500101@gw.example;user=phone>", "+821055500101"),
    ("sip:0101234@127.0.0.1", "0101234"),
    ("pjsip:0105550@customers", "0105550"),
    ('"x" <sip:anonymous@anonymous.invalid>', ""),
    ("", ""),
])
def test_sender_number_from_the_message_from_header(header, number):
    assert sender_number(header) == number


def test_clean_number_keeps_plain_numbers_only():
    assert clean_number(" +82 (10) 5550-0101 ") == "+821055500101"
    for bad in ("", "abc", "0101@host", "0101;x", "1" * 33):
        with pytest.raises(SmsError):
            clean_number(bad)


# --- what the managed Asterisk is told -----------------------------------------------------------

def test_managed_asterisk_config_has_the_reply_lines_and_an_empty_message_context(tmp_path):
    from ivr.pbx.instance import ManagedAsterisk

    root = tmp_path / "root"
    (root / "usr/lib/x86_64-linux-gnu/asterisk/modules").mkdir(parents=True)
    (root / "usr/lib/x86_64-linux-gnu/asterisk/modules/chan_pjsip.so").touch()
    (root / "usr/sbin").mkdir(parents=True)
    cfg = {"mode": "managed", "root": str(root), "ari_user": "happycall", "ari_password": "pw",
           "app_name": "happycall", "http_port": 18088, "sip_port": 15060, "rtp_start": 31000, "rtp_end": 31099,
           "ars_lines": {"1600": "ko"}, "reply_lines": {"1650": "ko", "1651": "en"}}
    files = ManagedAsterisk(cfg, "unit", agent_phones=[{"extension": "1001", "password": "x"}]).render_config()
    dialplan = files["extensions.conf"]
    customers = dialplan.split("[from-customers]")[1].split("[messages-in]")[0]
    # the reply lines come before the ARS catch-all of the same context
    assert customers.index("exten => 1650,1,Stasis(happycall,reply,${EXTEN},ko)") < customers.index("_X.")
    assert "exten => 1651,1,Stasis(happycall,reply,${EXTEN},en)" in customers
    messages = dialplan.split("[messages-in]")[1].split("[from-phones]")[0]
    assert "exten" not in messages      # no dialplan takes a MESSAGE: ARI does
    pjsip = files["pjsip.conf"]
    assert pjsip.count("message_context = messages-in") == 3   # customers, phones, softphone 1001
    assert "res_pjsip_messaging" in files["modules.conf"] and "res_ari_endpoints" in files["modules.conf"]
    with pytest.raises(ValueError, match="reply_lines"):
        ManagedAsterisk(dict(cfg, reply_lines={"16 50": "ko"}), "unit")
