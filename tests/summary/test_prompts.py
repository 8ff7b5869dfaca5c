from __future__ import annotations

import botocore.session
import botocore.validate
import pytest

from workbench.errors import NotFoundError, PromptError
from workbench.summary.prompts import PromptRegistry, render_template

from .conftest import PROMPTS

SEED_LINES = [
    "あなたは優秀な医師であり、電子カルテの記事記載を読み込んだ上で、"
    "指定されたフォーマットで退院サマリーを記載する必要があります。",
    "- 日付タグで<day-2022-10-10>昨日HOT開始</day-2022-10-10>のように記載されている場合は、"
    "そのタグの日付から数えて前の日の内容になります。この例では、2022年10月9日からHOTが開始されたことを示します。",
    "- Assessmentタグ(<A>)は主観的なデータおよび客観的なデータに対する評価が記載されます。",
    "- Planタグ(<P></P>)はその時点での診療方針・治療計画が記されます。"
    "入院時に計画した治療方針が異なる日付タグ間でコピーして利用されることがあります。",
    "・ 重大な身体所見およびその他の所見",
]


def test_the_project_has_v1_to_v3_and_v2_is_the_seed_prompt_in_full() -> None:
    registry = PromptRegistry(PROMPTS)
    assert {"v1", "v2", "v3"} <= set(registry.versions())
    v2 = registry.get("v2")
    for line in SEED_LINES:
        assert line in v2.body
    assert v2.placeholders == ["ichigo", "karte"] and v2.parameters["max_tokens"] > 0
    v3 = registry.get(3)
    assert v3.system and "昨日" in v3.body and "記載なし" in v3.body
    assert registry.list()["version"].tolist()[:3] == ["v1", "v2", "v3"]


def test_render_is_strict(registry: PromptRegistry) -> None:
    text = registry.render("v2", ichigo="ICHIGO-TEXT", karte="KARTE-TEXT")
    assert "<ichigo>\nICHIGO-TEXT\n</ichigo>" in text and "$(" not in text
    with pytest.raises(PromptError, match=r"prompt v2: no value for placeholder\(s\) \$\(karte\)"):
        registry.render("v2", ichigo="x")
    with pytest.raises(
        PromptError, match=r"value\(s\) given for imaging but the prompt has no such placeholder"
    ):
        registry.render("v2", ichigo="x", karte="y", imaging="z")
    assert (
        render_template("$(a)$(a) $(b)", {"a": "1", "b": "$(a)"}) == "11 $(a)"
    )  # values are not re-expanded


def test_unknown_versions_say_which_exist(registry: PromptRegistry) -> None:
    with pytest.raises(NotFoundError, match=r"unknown prompt version 'v99' .*known: v1, v2, v3"):
        registry.get("v99")
    with pytest.raises(NotFoundError):
        registry.get("../v2")


def test_create_never_overwrites_and_validates(registry: PromptRegistry) -> None:
    before = (registry.root / "v2.md").read_bytes()
    with pytest.raises(PromptError, match="v2 already exists"):
        registry.create("$(ichigo) $(karte)", version="v2")
    assert (registry.root / "v2.md").read_bytes() == before
    with pytest.raises(PromptError, match=r"unknown placeholder\(s\) karute"):
        registry.create("$(ichigo) $(karute)")
    with pytest.raises(PromptError, match="not both"):
        registry.create("$(karte)", parameters={"temperature": 0.2, "top_p": 0.9})
    with pytest.raises(PromptError, match="the body is empty"):
        registry.create("  \n")
    created = registry.create(
        "要約して\n$(karte)",
        description="short",
        author="tester",
        parameters={"max_tokens": 100, "top_p": 0.9},
        system="あなたは医師です。",
    )
    assert created.version == "v7"  # the copy holds v1 to v6
    again = registry.get(created.version)
    assert (again.body.strip(), again.system, again.author, again.parameters) == (
        "要約して\n$(karte)",
        "あなたは医師です。",
        "tester",
        {"max_tokens": 100, "top_p": 0.9},
    )
    assert again.sha256 == created.sha256 and len(again.sha256) == 64


def test_diff_shows_the_changed_lines(registry: PromptRegistry) -> None:
    diff = registry.diff("v2", "v3")
    assert diff.startswith("--- v2.md\n+++ v3.md\n")
    assert "-version: v2" in diff and "+version: v3" in diff
    assert registry.diff("v2", "v2") == ""


def test_malformed_prompt_files_are_rejected(registry: PromptRegistry) -> None:
    (registry.root / "bad.md").write_text("no front matter", encoding="utf-8")
    with pytest.raises(PromptError, match=r"bad\.md:1: expected YAML front matter"):
        registry.get("bad")
    (registry.root / "bad.md").write_text("---\nversion: v7\n---\nbody", encoding="utf-8")
    with pytest.raises(PromptError, match=r"says version 'v7' but the file is named bad\.md"):
        registry.get("bad")
    (registry.root / "bad.md").write_text(
        "---\nversion: bad\nparameters: {temp: 1}\n---\nbody", encoding="utf-8"
    )
    with pytest.raises(PromptError, match=r"unknown parameter\(s\) temp"):
        registry.get("bad")


def _validate_create_prompt(request: dict) -> None:
    model = botocore.session.get_session().get_service_model("bedrock-agent")
    botocore.validate.validate_parameters(request, model.operation_model("CreatePrompt").input_shape)


def test_bedrock_export_is_a_valid_create_prompt_request_and_imports_back(registry: PromptRegistry) -> None:
    request = registry.to_bedrock("v2", model_id="jp.anthropic.claude-sonnet-4-5-20250929-v1:0")
    _validate_create_prompt(request)
    variant = request["variants"][0]
    assert variant["templateType"] == "TEXT" and request["defaultVariant"] == "v2"
    text = variant["templateConfiguration"]["text"]
    assert "{{ichigo}}" in text["text"] and "$(" not in text["text"]
    assert text["inputVariables"] == [{"name": "ichigo"}, {"name": "karte"}]
    assert variant["inferenceConfiguration"]["text"] == {"maxTokens": 4096, "temperature": 0.0}
    imported = registry.from_bedrock(request, version="v2-bedrock")
    assert imported.body.strip() == registry.get("v2").body.strip()
    assert imported.parameters == registry.get("v2").parameters


def test_a_prompt_with_a_system_part_exports_as_chat(registry: PromptRegistry) -> None:
    request = registry.to_bedrock("v3")
    _validate_create_prompt(request)
    chat = request["variants"][0]["templateConfiguration"]["chat"]
    assert chat["system"][0]["text"] == registry.get("v3").system
    assert {v["name"] for v in chat["inputVariables"]} == {
        "ichigo",
        "karte",
        "admission_date",
        "discharge_date",
    }
    back = registry.from_bedrock(request, version="v3-copy")
    assert (back.system, back.body.strip()) == (registry.get("v3").system, registry.get("v3").body.strip())


def test_mlflow_export_and_import(registry: PromptRegistry) -> None:
    record = registry.to_mlflow("v3")
    assert set(record) == {"name", "template", "commit_message", "tags"}
    assert record["template"][0]["role"] == "system" and "{{karte}}" in record["template"][1]["content"]
    assert all(isinstance(v, str) for v in record["tags"].values())  # MLflow tags are strings
    back = registry.from_mlflow(record, version="v3-mlflow")
    assert (
        back.body.strip() == registry.get("v3").body.strip()
        and back.parameters == registry.get("v3").parameters
    )
    plain = registry.to_mlflow("v1")
    assert isinstance(plain["template"], str) and "{{ichigo}}" in plain["template"]
    with pytest.raises(PromptError, match="already exists"):
        registry.from_mlflow(plain)


def test_literal_braces_cannot_be_exported(registry: PromptRegistry) -> None:
    registry.create("{{x}} $(karte)", version="braces")
    with pytest.raises(PromptError, match="literal"):
        registry.to_bedrock("braces")


def test_create_on_a_full_disk_leaves_no_partial_version(registry: PromptRegistry, full_disk) -> None:
    from workbench.errors import DiskFullError

    versions = registry.versions()
    full_disk(40)
    with pytest.raises(DiskFullError, match="the disk is full"):
        registry.create("本文 $(karte)\n" * 200, version="v9", description="too big for the disk")
    assert registry.versions() == versions and not list(registry.root.glob(".*"))
    assert registry.get(versions[-1]).version == versions[-1]  # listing and reading still work
