"""Bland's own generated Python SDK (`bland==0.3.0` on PyPI), unmodified, against a running
simulator: every SMS method of the SDK (`client.sms.*`) once, each in its own test, checking the
fields of the model the SDK parses the answer into.

    BLAND_SMS_SIM_URL=http://127.0.0.1:PORT python -m pytest python/sdk/test_bland_sdk.py

(`python/sdk/run.sh` builds the environment, starts a simulator and does this.) The simulator is
reset when the module starts; webhooks point at 127.0.0.1 only.

The SDK's SMS methods are the legacy endpoints (see the README's "Legacy endpoints"):

    register        POST /v1/sms/register         -> RegisterResponse {message: str, data: dict}
    check           POST /v1/sms/register/status  -> CheckStatusResponse {status, brandType,
                                                     failtureReason?}  (sic: the SDK's spelling)
    get             POST /v1/sms/messages/get     -> GetMessagesResponse {messages: list}
                                                     (the docs answer a string: see its test)
    toggle          POST /v1/sms/toggle           -> ToggleReplyResponse {message}
    update_prompt   POST /v1/sms/prompt/update    -> UpdatePromptResponse {status: str}
    update_webhook  POST /v1/sms/webhook/update   -> UpdateWebhookResponse {status: str}
"""

import json
import os

import pytest

URL = os.environ.get("BLAND_SMS_SIM_URL", "").rstrip("/")
if not URL:
    pytest.skip(
        "BLAND_SMS_SIM_URL is not set: start `bland-sms-sim --port 0 --clock manual` and export "
        "the URL its first line prints (or run python/sdk/run.sh)",
        allow_module_level=True,
    )

bland = pytest.importorskip("bland", reason="Bland's SDK is not installed: pip install bland==0.3.0")

from importlib.metadata import version  # noqa: E402

if version("bland") != "0.3.0":
    pytest.skip(
        f"bland {version('bland')} is installed; these tests read 0.3.0's models: "
        "pip install bland==0.3.0",
        allow_module_level=True,
    )

import httpx  # noqa: E402  (the SDK's own HTTP client, installed with it)
from bland import TrustedUser  # noqa: E402
from bland.client import BlandAI  # noqa: E402

KEY = "sk_sim_default"
AGENT = "+15550002222"
USER = "+15550001111"
OPENING = "Hello from the bland SDK test"
# Nothing listens on the discard port: a webhook sent there fails at once and stays local.
WEBHOOK = "http://127.0.0.1:9/bland-sdk-test"

# The A2P brand form with the SDK's arguments (snake_case; the SDK sends businessName, postalCode,
# messageSamples, opt_in_info and trusted_user).
BRAND = dict(
    business_name="Acme Dental LLC",
    vertical="HEALTHCARE",
    address="1 Main St",
    city="Springfield",
    state="IL",
    postal_code="62701",
    country="US",
    email="ops@acme-dental.test",
    type="Limited Liability Corporation",
    website="https://acme-dental.test",
    opt_in_info="Patients opt in on our booking form.",
    message_samples=[
        "Your appointment is confirmed for Tuesday at 3pm.",
        "Reply YES to confirm or NO to reschedule.",
        "Thanks for visiting Acme Dental!",
    ],
)
TRUSTED = dict(
    first_name="Ann", last_name="Lee", position="CEO", email="ann@acme-dental.test",
    phone_number=USER,
)


@pytest.fixture(scope="module")
def raw():
    """Plain HTTP to the simulator, for what the SDK cannot do (send, the /_sim API)."""
    with httpx.Client(base_url=URL, headers={"authorization": KEY}, timeout=30) as c:
        r = c.post("/_sim/reset")
        assert r.status_code == 200, r.text
        yield c


@pytest.fixture(scope="module")
def client(raw):
    return BlandAI(base_url=URL, api_key=KEY, timeout=30)


@pytest.fixture(scope="module")
def conversation(raw):
    """A conversation between AGENT and USER with one AGENT message, created first."""
    r = raw.post(
        "/v1/sms/send",
        json={"agent_number": AGENT, "user_number": USER, "agent_message": OPENING},
    )
    assert r.status_code == 200, r.text
    return r.json()["data"]["conversation_id"]


def _register_raw(raw, ein):
    """A registration made without the SDK (so `check` is tested apart from `register`)."""
    body = {
        "businessName": BRAND["business_name"],
        "ein": ein,
        "vertical": BRAND["vertical"],
        "address": BRAND["address"],
        "city": BRAND["city"],
        "state": BRAND["state"],
        "postalCode": BRAND["postal_code"],
        "country": BRAND["country"],
        "email": BRAND["email"],
        "type": BRAND["type"],
        "website": BRAND["website"],
        "opt_in_info": BRAND["opt_in_info"],
        "messageSamples": BRAND["message_samples"],
        "trusted_user": TRUSTED,
    }
    r = raw.post("/v1/sms/register", json=body)
    assert r.status_code == 200, r.text
    j = r.json()
    rid = j.get("registration_id") or (j.get("data") or {}).get("registration_id")
    assert rid, f"no registration_id in {j}"
    return rid


def _sms_config(raw):
    r = raw.get("/v1/sms/numbers", params={"channel": "sms"})
    assert r.status_code == 200, r.text
    return next(n for n in r.json()["data"] if n["phone_number"] == AGENT)["sms_config"]


def test_update_prompt(client, raw):
    r = client.sms.update_prompt(phone_number=AGENT, prompt="Keep answers short.")
    assert isinstance(r, bland.UpdatePromptResponse)
    assert isinstance(r.status, str) and r.status
    assert _sms_config(raw)["objective"] == "Keep answers short."


def test_update_webhook(client, raw):
    r = client.sms.update_webhook(phone_number=AGENT, webhook=WEBHOOK)
    assert isinstance(r, bland.UpdateWebhookResponse)
    assert r.status == "success"
    assert _sms_config(raw)["webhook"] == WEBHOOK


def test_get_follows_the_docs_where_the_sdks_model_differs(client, raw, conversation):
    """Bland's docs (api-v1/post/sms-get-messages.mdx) answer `messages` as a JSON string; the
    SDK's model wants a list. One answer cannot be both: the simulator follows the docs (the
    README's table says so), so the SDK refuses the answer, naming the field."""
    with pytest.raises(Exception) as refused:
        client.sms.get(to=USER, from_=AGENT)
    assert "messages" in str(refused.value)
    r = raw.post("/v1/sms/messages/get", json={"to": USER, "from": AGENT})
    assert r.status_code == 200, r.text
    assert [m["message"] for m in json.loads(r.json()["messages"])] == [OPENING]


def test_toggle(client, raw, conversation):
    try:
        r = client.sms.toggle(phone_number=AGENT, on=True)
        assert isinstance(r, bland.ToggleReplyResponse)
        # The SDK's one field; pydantic lets it default to None (its type is a Union with Any),
        # so check the value, not only that parsing passed.
        assert r.message == "Turned human mode on"
    finally:
        raw.post("/v1/sms/toggle", json={"phone_number": AGENT, "on": False})


def test_register(client):
    r = client.sms.register(ein="123456789", trusted_user=TrustedUser(**TRUSTED), **BRAND)
    assert isinstance(r, bland.RegisterResponse)
    assert isinstance(r.message, str) and r.message
    assert isinstance(r.data, dict)


def test_check(client, raw):
    rid = _register_raw(raw, "123456789")
    r = client.sms.check(registration_id=rid)
    assert isinstance(r, bland.CheckStatusResponse)
    assert r.status == "pending"
    assert isinstance(r.brand_type, str) and r.brand_type
    assert r.failture_reason is None


def test_check_failed_registration_gives_its_reason(client, raw):
    rid = _register_raw(raw, "000000000")  # the simulator fails this EIN after 10 minutes
    assert raw.post("/_sim/clock/advance", json={"seconds": 601}).status_code == 200
    r = client.sms.check(registration_id=rid)
    assert r.status == "failed"
    # The SDK reads the reason from `failtureReason` (its spelling).
    assert isinstance(r.failture_reason, str) and r.failture_reason
