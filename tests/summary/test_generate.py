from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber

from workbench.errors import (
    BackendError,
    CaseFormatError,
    NotFoundError,
    PromptError,
    ThrottledError,
)
from workbench.summary.backends import (
    BaseBackend,
    ModelRequest,
    ModelResponse,
    estimate_cost,
    register_backend,
)
from workbench.summary.backends.bedrock import BedrockBackend
from workbench.summary.cache import ResponseCache, open_cache
from workbench.summary.cases import load_case
from workbench.summary.generate import merge_params, prepare, summarize
from workbench.summary.history import History, open_history
from workbench.summary.prompts import PromptRegistry

from .backends.test_bedrock import MODEL, converse_response
from .test_imaging_context import FakeArchive, studies_frame


class Recorder(BaseBackend):
    """A backend that keeps every request and answers with a fixed summary."""

    answer = (
        "・ 現病歴\n[氏名1]は発熱。\n・ 併存症\nCOPD\n"
        "・ 重大な身体所見およびその他の所見\nSpO2 86%\n・ 入院中の治療経過\n退院"
    )

    def __init__(self, model_id: str) -> None:
        self.name = f"recorder:{model_id}"
        self.requests: list[ModelRequest] = []

    def generate(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        return ModelResponse(self.answer, 100, 50, 10, "end_turn", False)


@pytest.fixture
def recorder() -> Recorder:
    backend = Recorder("a")
    register_backend("recorder", lambda _model_id: backend)
    return backend


@pytest.fixture
def stores(tmp_path: Path) -> tuple[History, ResponseCache]:
    return open_history(tmp_path / "history.sqlite"), open_cache(tmp_path / "cache.sqlite")


def test_baseline_generation_is_recorded_before_it_is_returned(tiny_case, registry, stores) -> None:
    history, cache = stores
    generation = summarize(
        tiny_case, "v3", "baseline:extractive", "both", history=history, cache=cache, registry=registry
    )
    assert history.get(generation.id) == generation
    assert (generation.model, generation.prompt_version, generation.source, generation.case_id) == (
        "baseline:extractive",
        "v3",
        "both",
        "tiny",
    )
    assert generation.prompt_hash == registry.get("v3").sha256 and generation.missing_sections == []
    assert generation.cost_usd == 0.0 and not generation.cache_hit and not generation.redacted
    assert generation.user and generation.timestamp[:4].isdigit()


def test_a_repeated_generation_is_a_free_cache_hit_but_a_new_repeat_is_a_call(
    tiny_case, registry, stores, recorder
) -> None:
    history, cache = stores
    args = (tiny_case, "v2", "recorder:a", "doctor")
    first = summarize(*args, history=history, cache=cache, registry=registry)
    again = summarize(*args, history=history, cache=cache, registry=registry)
    other = summarize(*args, repeat=1, history=history, cache=cache, registry=registry)
    fresh = summarize(*args, history=history, cache=cache, registry=registry, use_cache=False)
    assert len(recorder.requests) == 3
    assert again.cache_hit and not first.cache_hit and not other.cache_hit and not fresh.cache_hit
    assert again.output == first.output and again.cost_usd == 0.0 and len(cache) == 2
    assert history.count() == 4


def test_the_rendered_prompt_and_params_reach_the_backend(tiny_case, registry, stores, recorder) -> None:
    summarize(
        tiny_case,
        "v3",
        "recorder:a",
        "nursing",
        params={"top_p": 0.9, "max_tokens": 500},
        history=stores[0],
        cache=stores[1],
        registry=registry,
    )
    (request,) = recorder.requests
    assert request.system == registry.get("v3").system
    assert (
        "<ichigo>\n【主訴】" in request.prompt and "入院日は2022-10-08、退院日は2022-10-12" in request.prompt
    )
    assert "<S>「だいぶ楽になりました」</S>" in request.prompt and "PSL" not in request.prompt
    assert (request.max_tokens, request.temperature, request.top_p) == (500, None, 0.9)


def test_the_baseline_cache_key_covers_the_source_it_reads(tiny_case, registry, stores) -> None:
    (registry.root / "ichigo-only.md").write_text(
        "---\nversion: ichigo-only\n---\n$(ichigo)\n", encoding="utf-8"
    )
    kwargs = {"history": stores[0], "cache": stores[1], "registry": registry}
    doctor = summarize(tiny_case, "ichigo-only", "baseline:extractive", "doctor", **kwargs)
    nursing = summarize(tiny_case, "ichigo-only", "baseline:extractive", "nursing", **kwargs)
    assert not nursing.cache_hit and doctor.output != nursing.output


def test_merge_params() -> None:
    assert merge_params({"max_tokens": 10, "temperature": 0.0}, {"top_p": 0.5}) == {
        "max_tokens": 10,
        "top_p": 0.5,
    }
    assert merge_params({"max_tokens": 10, "top_p": 0.5}, {"temperature": 0.2}) == {
        "max_tokens": 10,
        "temperature": 0.2,
    }
    with pytest.raises(BackendError, match=r"unknown inference parameter\(s\) temp"):
        merge_params({}, {"temp": 1})


def test_redaction_sends_placeholders_and_restores_the_output(tiny_case, registry, stores, recorder) -> None:
    generation = summarize(
        tiny_case,
        "v2",
        "recorder:a",
        "both",
        redact=True,
        history=stores[0],
        cache=stores[1],
        registry=registry,
    )
    sent = recorder.requests[0].prompt
    assert "090-1234-5678" in tiny_case.karte("both") and "090-1234-5678" not in sent and "[電話1]" in sent
    assert generation.redacted and generation.output.startswith("・ 現病歴\n")
    assert stores[0].get(generation.id).redacted


def test_redaction_restores_names_in_the_answer(tiny_case, registry, stores, recorder) -> None:
    from dataclasses import replace

    case = replace(tiny_case, ichigo="【現病歴】\n川野次郎さんは息切れで入院。\n" + tiny_case.ichigo)
    generation = summarize(
        case, "v2", "recorder:a", "both", redact=True, history=stores[0], cache=stores[1], registry=registry
    )
    assert "川野" not in recorder.requests[0].prompt
    assert generation.output.startswith("・ 現病歴\n川野次郎は発熱。")


def test_imaging_placeholder_is_filled_from_the_archive(tiny_case, registry, stores, recorder) -> None:
    archive = FakeArchive(studies_frame([(tiny_case.patient_id, "2022-10-08", "CT", "胸部CT", 2)]))
    summarize(
        tiny_case,
        "v4",
        "recorder:a",
        "doctor",
        archive=archive,
        history=stores[0],
        cache=stores[1],
        registry=registry,
    )
    assert "<imaging>\n2022-10-08 CT 胸部CT (2 series)\n</imaging>" in recorder.requests[0].prompt
    assert stores[0].search()["imaging"].tolist() == ["studies"]


def test_imaging_says_which_kind_of_none_in_the_prompt_and_the_record(
    tiny_case, registry, stores, recorder
) -> None:
    from workbench.summary.imaging_context import STATUS_TEXT, ImagingStatus

    pid = tiny_case.patient_id
    archives = {
        ImagingStatus.NO_STUDIES: FakeArchive(studies_frame([(pid, "2021-01-05", "CT", "外来CT", 1)])),
        ImagingStatus.PATIENT_NOT_IN_ARCHIVE: FakeArchive(
            studies_frame([("OTHER", "2022-10-08", "CT", "CT", 1)])
        ),
    }
    for repeat, (status, archive) in enumerate(archives.items()):
        generation = summarize(tiny_case, "v4", "recorder:a", "doctor", archive=archive, repeat=repeat,
                               history=stores[0], cache=stores[1], registry=registry)
        assert f"<imaging>\n{STATUS_TEXT[status]}\n</imaging>" in recorder.requests[-1].prompt
        assert generation.imaging == status.value
        assert stores[0].get(generation.id).imaging == status.value


def test_bedrock_usage_and_stop_reason_reach_the_history(tiny_case, registry, stores) -> None:
    history, cache = stores
    client = boto3.client(
        "bedrock-runtime",
        region_name="ap-northeast-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    call = prepare(tiny_case, "v2", BedrockBackend(MODEL, client=client), "doctor", registry=registry)
    with Stubber(client) as stubber:
        stubber.add_response(
            "converse",
            converse_response(
                text="・ 現病歴\n途中まで", stop="max_tokens", tokens=(5321, 4096), latency=8123
            ),
            {
                "modelId": MODEL,
                "messages": [{"role": "user", "content": [{"text": call.request.prompt}]}],
                "inferenceConfig": {"maxTokens": 4096, "temperature": 0.0},
            },
        )
        generation = summarize(
            tiny_case,
            "v2",
            BedrockBackend(MODEL, client=client),
            "doctor",
            history=history,
            cache=cache,
            registry=registry,
        )
    row = history.search(patient_id=tiny_case.patient_id).iloc[0]
    assert (row.input_tokens, row.output_tokens, row.latency_ms, row.stop_reason, bool(row.truncated)) == (
        5321,
        4096,
        8123,
        "max_tokens",
        True,
    )
    assert row.model == f"bedrock:{MODEL}" and row.id == generation.id
    assert row.cost_usd == pytest.approx(estimate_cost(f"bedrock:{MODEL}", 5321, 4096)) and row.cost_usd > 0
    assert set(generation.missing_sections) == {
        "併存症",
        "重大な身体所見およびその他の所見",
        "入院中の治療経過",
    }


def _nothing_written(stores: tuple[History, ResponseCache]) -> bool:
    return stores[0].count() == 0 and len(stores[1]) == 0


def test_bad_input_writes_nothing(tiny_case, registry, stores, tmp_path: Path, monkeypatch) -> None:
    history, cache = stores
    kwargs = {"history": history, "cache": cache, "registry": registry}
    with pytest.raises(NotFoundError, match="unknown prompt version 'v42'"):
        summarize(tiny_case, "v42", "baseline:extractive", "both", **kwargs)
    with pytest.raises(BackendError, match="unknown model backend 'claude'"):
        summarize(tiny_case, "v2", "claude:sonnet", "both", **kwargs)
    with pytest.raises(CaseFormatError, match="unknown source 'all'"):
        summarize(tiny_case, "v2", "baseline:extractive", "all", **kwargs)
    with pytest.raises(BackendError, match=r"no price known for bedrock:unpriced\.model"):
        summarize(tiny_case, "v2", "bedrock:unpriced.model", "both", **kwargs)
    (registry.root / "v9.md").write_text("---\nversion: v9\n---\n$(ichigo) $(kartee)\n", encoding="utf-8")
    with pytest.raises(PromptError, match=r"unknown placeholder\(s\) kartee"):
        summarize(tiny_case, "v9", "baseline:extractive", "both", **kwargs)
    monkeypatch.setenv("AWS_REGION", "ap-northeast-1")
    with pytest.raises(BackendError, match="no AWS credentials found"):
        summarize(tiny_case, "v2", f"bedrock:{MODEL}", "both", **kwargs)
    assert _nothing_written(stores)


def test_a_missing_placeholder_value_is_an_error_before_any_call(
    tiny_case, registry, stores, recorder
) -> None:
    prompt = registry.get("v2")
    with pytest.raises(PromptError, match=r"no value for placeholder\(s\) \$\(karte\)"):
        prompt.render(ichigo="x")
    broken = PromptRegistry(registry.root)
    (registry.root / "v2.md").write_text(
        prompt.text.replace("</karte>", "</karte>\n$(imaging)"), encoding="utf-8"
    )
    # No archive configured is not an error: the prompt says imaging is unknown, and the record says why.
    generation = summarize(
        tiny_case, "v2", "recorder:a", "both", history=stores[0], cache=stores[1], registry=broken
    )
    assert "画像アーカイブ未設定" in recorder.requests[0].prompt and generation.imaging == "no_archive"


def test_throttling_writes_nothing(tiny_case, registry, stores) -> None:
    client = boto3.client(
        "bedrock-runtime",
        region_name="ap-northeast-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "converse",
            service_error_code="ThrottlingException",
            http_status_code=429,
            expected_params={"modelId": MODEL, "messages": ANY, "inferenceConfig": ANY},
        )
        backend = BedrockBackend(MODEL, client=client, throttle_rounds=0)
        with pytest.raises(ThrottledError):
            summarize(tiny_case, "v2", backend, "both", history=stores[0], cache=stores[1], registry=registry)
    assert _nothing_written(stores)


def test_defaults_use_the_data_and_cache_folders(tiny_case) -> None:
    from workbench import config

    generation = summarize(tiny_case, "v1", "baseline:extractive", "doctor")
    assert open_history(config.data_dir() / "history.sqlite").get(generation.id).case_id == "tiny"
    assert len(open_cache(config.cache_dir() / "responses.sqlite")) == 1


def test_load_then_summarize_a_corpus_case(stores) -> None:
    from .conftest import corpus_case_dirs

    case = load_case(corpus_case_dirs()[0])
    generation = summarize(case, "v2", "baseline:extractive", "both", history=stores[0], cache=stores[1])
    assert generation.missing_sections == [] and generation.patient_id == case.patient_id


def test_the_person_and_the_aws_identity_are_recorded_apart(tiny_case, registry, stores, monkeypatch) -> None:
    from workbench.summary.identity import aws_caller_arn, forget_aws_identity

    monkeypatch.setenv("LOGNAME", "anyone")
    monkeypatch.setenv("USER", "anyone")
    monkeypatch.setenv("JUPYTERHUB_USER", "dr.sato")
    client = boto3.client(
        "bedrock-runtime", region_name="ap-northeast-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    sts = boto3.client("sts", region_name="ap-northeast-1", aws_access_key_id="t", aws_secret_access_key="t")
    arn = "arn:aws:sts::123456789012:assumed-role/Researcher/sato"
    forget_aws_identity()
    with Stubber(client) as stub, Stubber(sts) as sts_stub:
        sts_stub.add_response(
            "get_caller_identity", {"UserId": "AROA:sato", "Account": "123456789012", "Arn": arn}
        )
        assert aws_caller_arn(sts) == arn  # the process's identity, asked once
        for repeat in range(2):
            stub.add_response("converse", converse_response())
            backend = BedrockBackend(MODEL, client=client)
            generation = summarize(tiny_case, "v2", backend, "doctor", repeat=repeat,
                                   history=stores[0], cache=stores[1], registry=registry)
            assert (generation.user, generation.user_source, generation.aws_identity) == (
                "dr.sato", "jupyterhub", arn
            )
    forget_aws_identity()
    rows = stores[0].search()
    assert rows["user"].tolist() == ["dr.sato", "dr.sato"] and set(rows["aws_identity"]) == {arn}
