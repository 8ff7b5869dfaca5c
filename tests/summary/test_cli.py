from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.summary.history import open_history

from .conftest import DATA, PROMPTS

TINY = str(DATA / "tiny")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_summarize_prints_and_records(capsys) -> None:
    status, out, err = run(
        capsys,
        "summarize",
        "--case",
        TINY,
        "--prompt",
        "v2",
        "--model",
        "baseline:extractive",
        "--source",
        "doctor",
    )
    assert status == 0 and "・ 入院中の治療経過" in out
    assert err.startswith("\nrecorded ") and "baseline:extractive, prompt v2" in err
    generation_id = err.split()[1].rstrip(":")
    assert open_history().get(generation_id).source == "doctor"
    status, out, err = run(
        capsys,
        "summarize",
        "--case",
        TINY,
        "--prompt",
        "2",
        "--model",
        "baseline:extractive",
        "--source",
        "doctor",
        "--json",
    )
    record = json.loads(out)
    assert record["cache_hit"] is True and record["prompt_version"] == "v2" and record["cost_usd"] == 0.0


def test_summarize_reads_a_csv_export(capsys) -> None:
    status, out, err = run(
        capsys,
        "summarize",
        "--case",
        str(DATA / "export.csv"),
        "--prompt",
        "v1",
        "--model",
        "baseline:extractive",
    )
    assert status == 2 and "holds 2 cases; choose one with --case-id" in err
    status, out, _ = run(
        capsys,
        "summarize",
        "--case",
        str(DATA / "export.csv"),
        "--case-id",
        "P001",
        "--prompt",
        "v1",
        "--model",
        "baseline:extractive",
    )
    assert status == 0 and "発熱で受診。" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prompt", "v99", "--model", "baseline:extractive"], "unknown prompt version 'v99'"),
        (["--prompt", "v2", "--model", "gpt:4"], "unknown model backend 'gpt'"),
        (["--prompt", "v2", "--model", "bedrock:jp.anthropic.claude-sonnet-4-5-20250929-v1:0"], "no AWS"),
    ],
)
def test_bad_input_is_one_line_and_records_nothing(
    capsys, monkeypatch, args: list[str], message: str
) -> None:
    monkeypatch.setenv("AWS_REGION", "ap-northeast-1")
    status, out, err = run(capsys, "summarize", "--case", TINY, *args)
    assert status == 2 and out == "" and err.startswith("workbench: error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert open_history().count() == 0


def test_a_malformed_case_is_one_line(capsys, tmp_path: Path) -> None:
    folder = tmp_path / "case"
    folder.mkdir()
    for file in Path(TINY).iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    (folder / "doctor.txt").write_text("<day-2022-10-08>\n<S>a</S>\n</day-2022-10-09>\n", encoding="utf-8")
    status, _, err = run(
        capsys, "summarize", "--case", str(folder), "--prompt", "v2", "--model", "baseline:extractive"
    )
    assert status == 2 and f"{folder / 'doctor.txt'}:3: </day-2022-10-09> closes a day" in err


def test_history_formats_and_filter(capsys) -> None:
    run(capsys, "summarize", "--case", TINY, "--prompt", "v1", "--model", "baseline:extractive")
    status, out, _ = run(capsys, "history")
    assert status == 0 and "baseline:extractive" in out and "0F1E2D3C4B5A" in out
    _, out, _ = run(
        capsys,
        "history",
        "--patient-id",
        "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "--format",
        "json",
    )
    (row,) = json.loads(out)
    assert row["case_id"] == "tiny" and row["sections"]["併存症"] == "COPD、高血圧症"
    _, out, _ = run(capsys, "history", "--format", "csv")
    assert out.startswith("id,timestamp,user,model")
    _, out, _ = run(capsys, "history", "--patient-id", "nobody")
    assert out.strip() == "no generations recorded for that filter"
    _, out, _ = run(capsys, "history", "--show", row["id"])
    assert out.startswith("（抽出型ベースライン")


def test_prompts_commands(capsys, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(PROMPTS, tmp_path / "p")
    folder = ["prompts", "--dir", str(tmp_path / "p")]
    status, out, _ = run(capsys, *folder, "list")
    assert status == 0 and out.splitlines()[1].split()[0] == "v1"
    _, out, _ = run(capsys, *folder, "show", "v2")
    assert out == (tmp_path / "p" / "v2.md").read_text(encoding="utf-8")
    _, out, _ = run(capsys, *folder, "diff", "v1", "v2")
    assert out.startswith("--- v1.md")
    body = tmp_path / "body.txt"
    body.write_text("$(ichigo)\n$(karte)\n", encoding="utf-8")
    status, out, _ = run(
        capsys, *folder, "create", "--from", str(body), "--description", "new", "--top-p", "0.9"
    )
    assert status == 0 and out.startswith("created prompt v7")
    status, _, err = run(capsys, *folder, "create", "--from", str(body), "--version", "v2")
    assert status == 2 and "already exists" in err
    _, out, _ = run(capsys, *folder, "export", "v7", "--format", "bedrock")
    exported = tmp_path / "bedrock.json"
    exported.write_text(out, encoding="utf-8")
    assert json.loads(out)["variants"][0]["inferenceConfiguration"]["text"] == {
        "maxTokens": 4096,
        "topP": 0.9,
    }
    status, out, _ = run(capsys, *folder, "import", str(exported), "--format", "bedrock", "--version", "v8")
    assert status == 0 and (tmp_path / "p" / "v8.md").is_file()
    _, out, _ = run(capsys, *folder, "export", "v8", "--format", "mlflow")
    assert json.loads(out)["template"] == "{{ichigo}}\n{{karte}}\n"
