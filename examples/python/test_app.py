"""The app's test, against the simulator the `bland` fixture gives (reset for each test)."""

import pytest

from app import ReminderApp

AGENT, CUSTOMER = "+15550002222", "+15550001111"


@pytest.fixture
def app(bland):
    app = ReminderApp(bland.base_url, bland.api_key, AGENT).start()
    yield app
    app.stop()


def test_the_customers_answer_reaches_the_app(bland, app):
    conversation = app.remind(CUSTOMER, "tomorrow at 10:00")
    # The customer answers; the simulator delivers the message webhook to the app before
    # inbound returns.
    bland.inbound(user=CUSTOMER, agent=AGENT, text="Confirmed, see you then")
    assert app.answers[conversation] == ["Confirmed, see you then"]
    sent = [r for r in bland.requests() if r["path"] == "/v1/sms/send"]
    assert sent[0]["body"]["agent_message"].startswith("Reminder:")


def test_a_failing_bland_is_an_error_the_app_sees(bland, app):
    bland.add_fault({"path": "/v1/sms/send", "status": 503, "error": "SERVICE_UNAVAILABLE"})
    with pytest.raises(Exception):
        app.remind(CUSTOMER, "tomorrow")
