"""Bedrock through botocore's Stubber on a real bedrock-runtime client (documented Converse shapes)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber

from workbench.errors import BackendError, ThrottledError
from workbench.summary.backends import ModelRequest
from workbench.summary.backends.bedrock import BedrockBackend

MODEL = "jp.anthropic.claude-sonnet-4-5-20250929-v1:0"


def converse_response(
    text: str = "・ 現病歴\n発熱",
    stop: str = "end_turn",
    tokens: tuple[int, int] = (1200, 340),
    latency: int = 2345,
) -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop,
        "usage": {"inputTokens": tokens[0], "outputTokens": tokens[1], "totalTokens": sum(tokens)},
        "metrics": {"latencyMs": latency},
    }


@pytest.fixture
def stubbed() -> Iterator[tuple[object, Stubber]]:
    client = boto3.client(
        "bedrock-runtime",
        region_name="ap-northeast-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_the_exact_converse_request_and_the_response_fields(stubbed) -> None:
    client, stubber = stubbed
    expected = {
        "modelId": MODEL,
        "system": [{"text": "あなたは医師です。"}],
        "messages": [{"role": "user", "content": [{"text": "カルテを要約して"}]}],
        "inferenceConfig": {"maxTokens": 2048, "temperature": 0.0},
    }
    stubber.add_response("converse", converse_response(), expected)
    backend = BedrockBackend(MODEL, client=client)
    response = backend.generate(
        ModelRequest(system="あなたは医師です。", prompt="カルテを要約して", max_tokens=2048, temperature=0.0)
    )
    assert backend.name == f"bedrock:{MODEL}"
    assert (
        response.text,
        response.input_tokens,
        response.output_tokens,
        response.latency_ms,
        response.stop_reason,
        response.truncated,
    ) == ("・ 現病歴\n発熱", 1200, 340, 2345, "end_turn", False)


def test_top_p_is_sent_instead_of_temperature_and_no_system_block_without_one(stubbed) -> None:
    client, stubber = stubbed
    stubber.add_response(
        "converse",
        converse_response(),
        {
            "modelId": MODEL,
            "messages": [{"role": "user", "content": [{"text": "p"}]}],
            "inferenceConfig": {"maxTokens": 10, "topP": 0.9, "stopSequences": ["###"]},
        },
    )
    BedrockBackend(MODEL, client=client).generate(
        ModelRequest(system=None, prompt="p", max_tokens=10, top_p=0.9, stop_sequences=("###",))
    )


def test_a_max_tokens_stop_is_flagged_truncated(stubbed) -> None:
    client, stubber = stubbed
    stubber.add_response("converse", converse_response(stop="max_tokens"))
    response = BedrockBackend(MODEL, client=client).generate(ModelRequest(None, "p", 10))
    assert response.truncated and response.stop_reason == "max_tokens"


def test_throttling_is_retried_then_succeeds(stubbed) -> None:
    client, stubber = stubbed
    waits: list[float] = []
    for _ in range(2):
        stubber.add_client_error(
            "converse",
            service_error_code="ThrottlingException",
            service_message="Too many requests, please wait",
            http_status_code=429,
        )
    stubber.add_response("converse", converse_response(text="OK"))
    backend = BedrockBackend(MODEL, client=client, throttle_rounds=2, throttle_wait=30, sleep=waits.append)
    assert backend.generate(ModelRequest(None, "p", 10)).text == "OK"
    assert len(waits) == 2 and 30 <= waits[0] <= 37.5 and 60 <= waits[1] <= 75  # doubled, with jitter


def test_throttling_past_the_bound_raises_throttled_error(stubbed) -> None:
    client, stubber = stubbed
    for _ in range(3):
        stubber.add_client_error(
            "converse",
            service_error_code="ThrottlingException",
            service_message="Too many requests",
            http_status_code=429,
        )
    backend = BedrockBackend(MODEL, client=client, throttle_rounds=2, sleep=lambda _s: None)
    with pytest.raises(
        ThrottledError, match=r"throttled \(ThrottlingException: Too many requests\) after 3 rounds"
    ):
        backend.generate(ModelRequest(None, "p", 10))


def test_a_validation_exception_is_one_clear_error(stubbed) -> None:
    client, stubber = stubbed
    stubber.add_client_error(
        "converse",
        service_error_code="ValidationException",
        http_status_code=400,
        service_message="temperature and top_p cannot both be specified for this model.",
    )
    with pytest.raises(
        BackendError,
        match=rf"bedrock:{MODEL} rejected the request as invalid: temperature and "
        "top_p cannot both",
    ) as info:
        BedrockBackend(MODEL, client=client).generate(ModelRequest(None, "p", 10))
    assert not isinstance(info.value, ThrottledError)


def test_access_denied_says_how_to_fix(stubbed) -> None:
    client, stubber = stubbed
    stubber.add_client_error(
        "converse",
        service_error_code="AccessDeniedException",
        http_status_code=403,
        service_message="You don't have access to the model",
    )
    with pytest.raises(BackendError, match="enable the model in the Bedrock console"):
        BedrockBackend(MODEL, client=client).generate(ModelRequest(None, "p", 10))


def test_no_credentials_gives_one_clear_message(monkeypatch) -> None:
    monkeypatch.setenv("AWS_REGION", "ap-northeast-1")
    backend = BedrockBackend(MODEL)  # a real client: the conftest removed every credential source
    assert backend.client.meta.region_name == "ap-northeast-1"
    with pytest.raises(BackendError, match=r"no AWS credentials found for Amazon Bedrock; .*AWS_PROFILE"):
        backend.generate(ModelRequest(None, "p", 10))
    # credentials set afterwards (e.g. in the notebook's environment) are found without a restart
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with Stubber(backend.client) as stubber:
        stubber.add_response("converse", converse_response(text="OK"))
        assert backend.generate(ModelRequest(None, "p", 10)).text == "OK"


def test_no_region_gives_one_clear_message(monkeypatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(BackendError, match="no AWS region for Amazon Bedrock: set AWS_REGION"):
        BedrockBackend(MODEL).generate(ModelRequest(None, "p", 10))


def test_the_client_uses_standard_retries_and_a_long_read_timeout(monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = BedrockBackend(MODEL, max_attempts=5, read_timeout=400).client
    # botocore's max_attempts counts retries after the first attempt
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 6}
    assert client.meta.config.read_timeout == 400


def test_caller_identity_is_asked_once_per_process(stubbed, monkeypatch) -> None:
    from workbench.summary.identity import forget_aws_identity

    client, _ = stubbed
    backend = BedrockBackend(MODEL, client=client)
    monkeypatch.setenv("WORKBENCH_BEDROCK_RECORD_IDENTITY", "false")
    assert backend.caller_identity() is None  # turned off: no extra request
    monkeypatch.delenv("WORKBENCH_BEDROCK_RECORD_IDENTITY")
    forget_aws_identity()
    sts = boto3.client(
        "sts", region_name="ap-northeast-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    arn = "arn:aws:sts::123456789012:assumed-role/Researcher/taro"
    with Stubber(sts) as sts_stub:
        sts_stub.add_response(
            "get_caller_identity", {"UserId": "AROA:taro", "Account": "123456789012", "Arn": arn}
        )
        assert backend.caller_identity(sts) == arn
        assert backend.caller_identity(sts) == arn  # cached: the stub had one answer
        # once per process, not per backend
        assert BedrockBackend(MODEL, client=client).caller_identity(sts) == arn
    forget_aws_identity()
    failing = boto3.client(
        "sts", region_name="ap-northeast-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(failing) as sts_stub:
        sts_stub.add_client_error("get_caller_identity", service_error_code="ExpiredToken")
        assert BedrockBackend(MODEL, client=client).caller_identity(failing) is None
    forget_aws_identity()
