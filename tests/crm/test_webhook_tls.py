"""CRM webhooks over HTTPS to a real receiver on 127.0.0.1 (uvicorn with a certificate from a
test CA), with the sender the service builds from its settings (``crm_sender_for``): the
certificate is checked against the system's authorities and ``crm_ca_file``'s. Trusting the
receiver's CA, the call log is delivered over TLS; by default (the test CA is in no system
store), from another CA, or for another host name, nothing is sent, once, and the delivery
says why."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.crm.receiver import Receiver, serving
from tests.support.certs import TestCa

from callroster.config import Settings, load_settings
from callroster.crm.webhook import DeliveryResult, WebhookTarget
from callroster.errors import ConfigError
from callroster.services import crm_sender_for

SECRET = b"Qm9sZC1Ib3Jpem9uLTQ0Nzctc2lnbmluZw"
EVENT = "call_5b1e0c7d-2a9f-4c3e-8d1b-6f4a2e9c0b17"
PAYLOAD = {"event": "call.ended", "call_id": "5b1e0c7d", "outcome": "answered"}
UNTRUSTED = DeliveryResult(
    delivered=False,
    attempts=1,
    last_status=None,
    error="TLS: the CRM's certificate is not trusted (unable to get local issuer certificate)",
)


@pytest.fixture
def ca(tmp_path: Path) -> TestCa:
    return TestCa(tmp_path / "ca")


def _settings(tmp_path: Path, ca_file: Path | None) -> Settings:
    # The receiver is on loopback: the operator's crm_allow_private_targets lets it through.
    return load_settings(
        data=tmp_path / "data", crm_allow_private_targets=True, crm_ca_file=ca_file
    )


async def _deliver(settings: Settings, receiver: Receiver) -> DeliveryResult:
    sender = crm_sender_for(settings)
    try:
        return await sender.deliver(WebhookTarget(receiver.url, SECRET), EVENT, PAYLOAD)
    finally:
        await sender.aclose()


@pytest.fixture
async def receiver(ca: TestCa, tmp_path: Path) -> AsyncIterator[Receiver]:
    issued = ca.issue(tmp_path / "crm", "crm")  # for 127.0.0.1, ::1 and localhost
    async with serving(Receiver(SECRET), tls=issued) as running:
        yield running


async def test_delivered_over_tls_when_the_crms_ca_is_trusted(
    receiver: Receiver, ca: TestCa, tmp_path: Path
) -> None:
    result = await _deliver(_settings(tmp_path, ca.cert_file), receiver)
    assert result == DeliveryResult(delivered=True, attempts=1, last_status=200, error=None)
    [request] = receiver.requests
    assert (request.scheme, request.signature_ok) == ("https", True)
    assert receiver.url.startswith("https://127.0.0.1:")


async def test_by_default_only_the_systems_authorities_are_trusted(
    receiver: Receiver, tmp_path: Path
) -> None:
    result = await _deliver(_settings(tmp_path, None), receiver)
    assert result == UNTRUSTED
    assert receiver.requests == []  # nothing sent, and not retried


async def test_a_certificate_from_another_ca_is_refused(ca: TestCa, tmp_path: Path) -> None:
    impostor = TestCa(tmp_path / "other-ca", "Some Other CA").issue(tmp_path / "fake", "crm")
    async with serving(Receiver(SECRET), tls=impostor) as receiver:
        result = await _deliver(_settings(tmp_path, ca.cert_file), receiver)
    assert result == UNTRUSTED
    assert receiver.requests == []


async def test_a_certificate_for_another_host_is_refused(ca: TestCa, tmp_path: Path) -> None:
    elsewhere = ca.issue(tmp_path / "elsewhere", "crm", hosts=["crm.callroster.test"])
    async with serving(Receiver(SECRET), tls=elsewhere) as receiver:
        result = await _deliver(_settings(tmp_path, ca.cert_file), receiver)
    assert result == DeliveryResult(
        delivered=False,
        attempts=1,
        last_status=None,
        error="TLS: the CRM's certificate is not for the webhook URL's host",
    )
    assert receiver.requests == []


def test_a_crm_ca_file_that_is_not_certificates_is_a_one_line_setting_error(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "crm-ca.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"^bad setting crm_ca_file: .*crm-ca\.pem") as caught:
        crm_sender_for(_settings(tmp_path, bad))
    assert "\n" not in str(caught.value)


async def test_an_https_url_to_a_clear_text_receiver_sends_nothing_in_clear(
    ca: TestCa, tmp_path: Path
) -> None:
    async with serving(Receiver(SECRET)) as receiver:  # plain HTTP only
        https = receiver.url.replace("http://", "https://")
        sender = crm_sender_for(_settings(tmp_path, ca.cert_file))
        try:
            result = await sender.deliver(WebhookTarget(https, SECRET), EVENT, PAYLOAD)
            # The control: the receiver answers the same request over plain HTTP.
            control = await sender.deliver(WebhookTarget(receiver.url, SECRET), EVENT, PAYLOAD)
        finally:
            await sender.aclose()
    assert (result.delivered, result.attempts, result.last_status) == (False, 1, None)
    assert result.error is not None
    assert result.error.startswith("TLS: the handshake with the CRM failed (")
    assert control.delivered
    assert [request.scheme for request in receiver.requests] == ["http"]  # the control's
