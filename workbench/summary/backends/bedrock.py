"""Amazon Bedrock through the Converse API.

One request is ``converse(modelId, system=[{"text"}], messages=[{"role": "user", ...}], inferenceConfig)``
with ``maxTokens`` and ``temperature`` *or* ``topP`` (never both: Claude 4.5 models reject that). The client
uses botocore's ``standard`` retry mode with a bounded number of attempts and a read timeout long enough for
a long generation. Bedrock's quotas are per minute, which botocore's backoff (capped at 20 s) can outlast,
so a throttle that survives botocore's retries is retried a few more times here after a longer wait; only
then does it raise :class:`~workbench.errors.ThrottledError`.

Settings (environment first, then ``[bedrock]`` in ``config.toml``): ``region`` (``WORKBENCH_BEDROCK_REGION``,
else ``AWS_REGION``/``AWS_DEFAULT_REGION``/the AWS profile's region), ``max_attempts`` (botocore's retries
after the first attempt, default 6), ``read_timeout`` (seconds, default 300), ``throttle_rounds``
(default 2), ``throttle_wait`` (seconds, default 30).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

from workbench import config
from workbench.errors import BackendError, ThrottledError
from workbench.summary.backends.aws import aws_clients, bedrock_region
from workbench.summary.backends.base import BaseBackend, CaseInput, ModelRequest, ModelResponse

logger = logging.getLogger(__name__)

_THROTTLE_CODES = {"ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException"}
_CREDENTIALS_HELP = (
    "no AWS credentials found for Amazon Bedrock; set them outside the notebook: 'aws configure' or "
    "'aws sso login --profile NAME' then AWS_PROFILE=NAME, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
    "(and AWS_SESSION_TOKEN) in the environment, or an instance/SageMaker role; or run offline with "
    "--model baseline:extractive"
)


class BedrockBackend(BaseBackend):
    """``bedrock:<model id>``: one Converse call per request.

    Parameters
    ----------
    model_id : str
        A model id or inference profile id (``jp.anthropic.claude-sonnet-4-5-20250929-v1:0``).
    client : botocore client, optional
        A ``bedrock-runtime`` client (tests pass one wrapped in ``botocore.stub.Stubber``). Default: one
        made from the settings on first use.
    region : str, optional
    max_attempts : int, optional
        botocore's ``max_attempts`` (standard retry mode): retries after the first attempt.
    read_timeout : float, optional
        Seconds to wait for the answer.
    throttle_rounds : int, optional
        Extra rounds after botocore gave up on throttling.
    throttle_wait : float, optional
        Seconds before the first extra round (doubled each round, with jitter).
    sleep : callable
        ``time.sleep``; tests replace it.
    """

    def __init__(
        self,
        model_id: str,
        *,
        client: Any = None,
        region: str | None = None,
        max_attempts: int | None = None,
        read_timeout: float | None = None,
        throttle_rounds: int | None = None,
        throttle_wait: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not model_id:
            raise BackendError(
                "bedrock: needs a model id, e.g. bedrock:jp.anthropic.claude-sonnet-4-5-20250929-v1:0"
            )
        self.model_id = model_id
        self.name = f"bedrock:{model_id}"
        # botocore reads AWS_DEFAULT_REGION and the profile's region itself; AWS_REGION is read here.
        self.region = bedrock_region(region)
        settings = config.bedrock_settings()
        self.max_attempts = int(max_attempts or settings.max_attempts)
        self.read_timeout = float(read_timeout or settings.read_timeout)
        self.throttle_rounds = int(
            throttle_rounds if throttle_rounds is not None else settings.throttle_rounds
        )
        self.throttle_wait = float(throttle_wait if throttle_wait is not None else settings.throttle_wait)
        self._client = client
        self._own_client = client is None
        self._sleep = sleep

    @property
    def client(self) -> Any:
        """The ``bedrock-runtime`` client (made on first use)."""
        if self._client is None:
            from botocore.config import Config

            botocore_config = Config(
                retries={"mode": "standard", "max_attempts": self.max_attempts},
                read_timeout=self.read_timeout,
                connect_timeout=10,
            )
            (self._client,) = aws_clients(("bedrock-runtime",), self.region, what="Amazon Bedrock",
                                          error=BackendError, client_config=botocore_config)
        return self._client

    def converse_request(self, request: ModelRequest) -> dict[str, Any]:
        """The Converse API parameters for ``request`` (also the shape batch inference records reuse)."""
        inference: dict[str, Any] = {"maxTokens": request.max_tokens}
        if request.temperature is not None:
            inference["temperature"] = request.temperature
        elif request.top_p is not None:
            inference["topP"] = request.top_p
        if request.stop_sequences:
            inference["stopSequences"] = list(request.stop_sequences)
        params: dict[str, Any] = {
            "modelId": self.model_id,
            "messages": [{"role": "user", "content": [{"text": request.prompt}]}],
            "inferenceConfig": inference,
        }
        if request.system:
            params["system"] = [{"text": request.system}]
        return params

    def caller_identity(self, sts_client: Any = None) -> str | None:
        """The AWS identity (ARN) that calls Bedrock, recorded as a generation's ``aws_identity``.

        Asked once per process through ``sts:GetCallerIdentity`` (:func:`workbench.summary.identity.
        aws_caller_arn`; one extra request, allowed to every AWS identity). ``[bedrock] record_caller_identity
        = false`` (or ``WORKBENCH_BEDROCK_RECORD_IDENTITY=false``) turns it off. Failures give ``None``.
        """
        from workbench.summary.identity import aws_caller_arn

        if not config.bedrock_settings().record_caller_identity:
            return None
        return aws_caller_arn(sts_client, region=self.region or self.client.meta.region_name)

    def generate(self, request: ModelRequest, case: CaseInput | None = None) -> ModelResponse:
        """Make one Converse call.

        Raises
        ------
        ThrottledError
            Still throttled after botocore's attempts and :attr:`throttle_rounds` longer waits.
        BackendError
            No credentials or region, a ValidationException (the message names the model and says why),
            access denied, an unknown model, or any other service error.
        """
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        params = self.converse_request(request)
        wait = self.throttle_wait
        for round_ in range(self.throttle_rounds + 1):
            started = time.monotonic()
            try:
                response = self.client.converse(**params)
                break
            except NoCredentialsError:
                if self._own_client:
                    self._client = None  # made again next time: credentials set meanwhile are found
                raise BackendError(_CREDENTIALS_HELP) from None
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                message = exc.response.get("Error", {}).get("Message", str(exc))
                if code in _THROTTLE_CODES:
                    if round_ < self.throttle_rounds:
                        delay = wait * (1 + random.random() / 4)
                        logger.warning("%s throttled (%s); retrying in %.0f s", self.name, code, delay)
                        self._sleep(delay)
                        wait *= 2
                        continue
                    raise ThrottledError(
                        f"{self.name} is throttled ({code}: {message}) after {self.throttle_rounds + 1} "
                        f"rounds of {self.max_attempts} attempts; lower the concurrency, wait a minute, "
                        "or ask for a higher "
                        "Bedrock quota"
                    ) from None
                raise BackendError(_explain(code, message, self.model_id, self.region)) from None
            except BotoCoreError as exc:
                raise BackendError(f"{self.name}: request failed before an answer: {exc}") from None
        latency = int(response.get("metrics", {}).get("latencyMs") or (time.monotonic() - started) * 1000)
        blocks = response.get("output", {}).get("message", {}).get("content", [])
        text = "".join(block.get("text", "") for block in blocks)
        usage = response.get("usage", {})
        stop_reason = str(response.get("stopReason", ""))
        return ModelResponse(
            text=text,
            input_tokens=int(usage.get("inputTokens", 0)),
            output_tokens=int(usage.get("outputTokens", 0)),
            latency_ms=latency,
            stop_reason=stop_reason,
            truncated=stop_reason == "max_tokens",
        )


def _explain(code: str, message: str, model_id: str, region: str | None) -> str:
    where = f"bedrock:{model_id}"
    if code == "ValidationException":
        return f"{where} rejected the request as invalid: {message}"
    if code == "AccessDeniedException":
        return (
            f"{where}: access denied ({message}); enable the model in the Bedrock console (Model access) "
            "and allow bedrock:InvokeModel for it and its inference profile in IAM"
        )
    if code == "ResourceNotFoundException":
        return (
            f"{where}: model or inference profile not found in region {region or 'default'} ({message}); "
            "check the id and the region"
        )
    if code in {"UnrecognizedClientException", "ExpiredTokenException", "InvalidSignatureException"}:
        return f"{where}: AWS credentials were refused ({code}: {message}); refresh them (e.g. aws sso login)"
    return f"{where}: {code or 'error'}: {message}"
