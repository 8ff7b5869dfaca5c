"""``workbench summarize``, ``workbench history``, ``workbench prompts`` and ``workbench review``.

The ``review`` sheets are written and read by :mod:`workbench.evaluation.review_sheet`, imported only when
the command runs: without the ``eval`` extra the other commands still work, and ``review`` says what to
install.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import pandas as pd

from workbench.errors import NotFoundError
from workbench.summary.cases import Case, Source, find_case, load_case, load_csv

logger = logging.getLogger(__name__)

HISTORY_COLUMNS = [
    "id",
    "timestamp",
    "user",
    "model",
    "prompt_version",
    "source",
    "patient_id",
    "case_id",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "cache_hit",
    "stop_reason",
]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the summary commands to the ``workbench`` parser."""
    summarize = subparsers.add_parser(
        "summarize", help="generate a discharge summary for one case and record it"
    )
    summarize.add_argument(
        "--case",
        required=True,
        metavar="DIR",
        help="a case folder (meta.json, ichigo.txt, doctor.txt ...) or a long-format CSV export",
    )
    summarize.add_argument("--case-id", help="which case of a CSV export (case or patient ID)")
    summarize.add_argument("--prompt", required=True, metavar="VERSION", help="prompt version, e.g. v3")
    summarize.add_argument(
        "--model",
        required=True,
        help="backend:model-id, e.g. bedrock:jp.anthropic.claude-sonnet-4-5-20250929-v1:0, "
        "openai:llama3.1, baseline:extractive",
    )
    summarize.add_argument(
        "--source",
        default="both",
        choices=[s.value for s in Source],
        help="notes to summarise (default: both)",
    )
    summarize.add_argument(
        "--repeat", type=int, default=0, help="repeat number (a new call, cached separately)"
    )
    summarize.add_argument("--max-tokens", type=int)
    summarize.add_argument("--temperature", type=float)
    summarize.add_argument("--top-p", type=float)
    summarize.add_argument(
        "--no-cache", action="store_true", help="call the model even if the answer is cached"
    )
    redact = summarize.add_mutually_exclusive_group()
    redact.add_argument(
        "--redact",
        dest="redact",
        action="store_true",
        default=None,
        help="replace names, IDs, phone numbers and addresses before sending",
    )
    redact.add_argument("--no-redact", dest="redact", action="store_false")
    summarize.add_argument("--json", action="store_true", help="print the whole generation record as JSON")
    summarize.add_argument(
        "--no-markers",
        action="store_true",
        help="print the summary without its citation markers ([0725-医-O1]); the record keeps them",
    )
    summarize.set_defaults(func=_summarize)

    history = subparsers.add_parser("history", help="list recorded generations, newest first")
    history.add_argument("--patient-id", help="exact, or a prefix ending in *")
    history.add_argument("--case-id")
    history.add_argument("--model")
    history.add_argument("--prompt", dest="prompt_version", metavar="VERSION")
    history.add_argument("--limit", type=int, default=50, help="rows to show (default 50; 0 for all)")
    history.add_argument("--format", choices=("table", "csv", "json"), default="table")
    history.add_argument("--show", metavar="ID", help="print one generation's summary and record")
    history.set_defaults(func=_history)

    prompts = subparsers.add_parser(
        "prompts", help="list, show, compare, create, export and import prompt versions"
    )
    prompts.add_argument(
        "--dir", help="prompt folder (default: $WORKBENCH_PROMPTS_DIR or prompts/discharge_summary)"
    )
    actions = prompts.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="the versions").set_defaults(func=_prompts_list)
    show = actions.add_parser("show", help="print one version's file")
    show.add_argument("version")
    show.set_defaults(func=_prompts_show)
    diff = actions.add_parser("diff", help="unified diff of two versions")
    diff.add_argument("a")
    diff.add_argument("b")
    diff.set_defaults(func=_prompts_diff)
    create = actions.add_parser("create", help="a new version from a text file (never overwrites)")
    create.add_argument("--from", dest="body_file", required=True, metavar="FILE", help="the prompt body")
    create.add_argument("--version", help="default: the next vN")
    create.add_argument("--description", default="")
    create.add_argument("--author")
    create.add_argument("--system-file", metavar="FILE", help="a system prompt")
    create.add_argument("--max-tokens", type=int, default=4096)
    create.add_argument("--temperature", type=float)
    create.add_argument("--top-p", type=float)
    create.set_defaults(func=_prompts_create)
    export = actions.add_parser("export", help="a version as Bedrock Prompt Management or MLflow JSON")
    export.add_argument("version")
    export.add_argument("--format", choices=("bedrock", "mlflow"), required=True)
    export.set_defaults(func=_prompts_export)
    import_ = actions.add_parser("import", help="create a version from Bedrock or MLflow JSON")
    import_.add_argument("file")
    import_.add_argument("--format", choices=("bedrock", "mlflow"), required=True)
    import_.add_argument("--version", help="default: the version named in the file")
    import_.set_defaults(func=_prompts_import)
    _register_review(subparsers)


def _register_review(subparsers: argparse._SubParsersAction) -> None:
    """Add ``review export|import`` (physician review of drafts on a blinded sheet)."""
    review = subparsers.add_parser(
        "review", help="physician review of generated drafts outside JupyterLab (blinded sheet out and in)"
    )
    actions = review.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = actions.add_parser("export", help="drafts to a blinded review sheet (CSV, XLSX) and its key")
    export.add_argument("generation_ids", nargs="+", metavar="GENERATION_ID",
                        help="generations to review (ids from 'workbench history')")
    export.add_argument("-o", "--out", type=Path, required=True, help="folder for the sheet and the key")
    export.add_argument("--seed", type=int, default=0, help="seed of the shuffle (default 0)")
    export.add_argument("--name", default="review", help="file name prefix (default: review)")
    export.set_defaults(func=_review_export)
    import_ = actions.add_parser("import", help="store the accepted text of a filled review sheet")
    import_.add_argument("sheet", type=Path, help="the filled sheet (.csv or .xlsx)")
    import_.add_argument("--key", type=Path, required=True, help="the key file written with the sheet")
    import_.add_argument("--reviewer", help="who reviewed (default: the sheet's file name)")
    import_.set_defaults(func=_review_import)


def _load_one_case(path: str, case_id: str | None) -> Case:
    target = Path(path)
    if target.is_file() and target.suffix.lower() == ".csv":
        cases = load_csv(target)
        if case_id:
            return find_case(cases, case_id)
        if len(cases) != 1:
            raise NotFoundError(
                f"{target} holds {len(cases)} cases; choose one with --case-id "
                f"({', '.join(c.case_id for c in cases[:5])} ...)"
            )
        return cases[0]
    return load_case(target)


def _summarize(args: argparse.Namespace) -> int:
    from workbench.summary.generate import summarize

    case = _load_one_case(args.case, args.case_id)
    params = {"max_tokens": args.max_tokens, "temperature": args.temperature, "top_p": args.top_p}
    generation = summarize(
        case,
        args.prompt,
        args.model,
        args.source,
        repeat=args.repeat,
        params={k: v for k, v in params.items() if v is not None},
        redact=args.redact,
        use_cache=not args.no_cache,
    )
    if args.json:
        print(json.dumps(generation.to_dict(), ensure_ascii=False, indent=2))
        return 0
    if args.no_markers and generation.sentences:
        from workbench.summary.citations import sentences_text

        print(sentences_text(generation.sentences, markers=False))
    else:
        print(generation.output)
    flags = [
        f
        for f, on in (
            ("cache hit", generation.cache_hit),
            ("TRUNCATED", generation.truncated),
            ("redacted", generation.redacted),
        )
        if on
    ]
    if generation.missing_sections:
        flags.append(f"missing sections: {', '.join(generation.missing_sections)}")
    cited = [s for s in generation.sentences if s["citations"]]
    invalid = [s for s in generation.sentences if s["invalid_citations"]]
    if cited or invalid:
        flags.append(
            f"{len(cited)} of {len(generation.sentences)} sentences cited, "
            f"{len(invalid)} with invalid citations"
        )
    print(
        f"\nrecorded {generation.id}: {generation.model}, prompt {generation.prompt_version}, "
        f"{generation.input_tokens}+{generation.output_tokens} tokens, ${generation.cost_usd:.4f}, "
        f"{generation.latency_ms} ms{'; ' + '; '.join(flags) if flags else ''}",
        file=sys.stderr,
    )
    return 0


def _history(args: argparse.Namespace) -> int:
    from workbench.summary.history import open_history

    history = open_history()
    if args.show:
        from workbench.summary.review import open_review_store
        from workbench.summary.sections import format_sections

        generation = history.get(args.show)
        reviews = open_review_store(history).reviews(generation.id)
        if args.format != "table":
            record = {**generation.to_dict(), "reviews": [r.to_dict() for r in reviews]}
            print(json.dumps(record, ensure_ascii=False, indent=2))
            return 0
        print(generation.output)
        for review in reviews:
            print(f"\n--- accepted by {review.reviewer} (opened {review.opened_at}, accepted "
                  f"{review.accepted_at}, via {review.channel}) ---")
            print(format_sections(review.accepted))
        return 0
    frame = history.search(
        patient_id=args.patient_id,
        case_id=args.case_id,
        model=args.model,
        prompt_version=args.prompt_version,
        limit=args.limit or None,
    )
    if args.format == "json":
        print(json.dumps(frame.to_dict(orient="records"), ensure_ascii=False, indent=2))
    elif args.format == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif frame.empty:
        print(
            "no generations recorded"
            + (
                " for that filter"
                if any((args.patient_id, args.case_id, args.model, args.prompt_version))
                else ""
            )
        )
    else:
        table = frame[HISTORY_COLUMNS].copy()
        table["patient_id"] = table["patient_id"].str.slice(0, 12)
        with pd.option_context("display.width", 200, "display.max_columns", None):
            print(table.to_string(index=False))
    return 0


def _registry(args: argparse.Namespace):
    from workbench.summary.prompts import PromptRegistry

    return PromptRegistry(args.dir)


def _prompts_list(args: argparse.Namespace) -> int:
    frame = _registry(args).list()
    frame["sha256"] = frame["sha256"].str.slice(0, 12)
    frame["description"] = frame["description"].str.slice(0, 60)
    with pd.option_context("display.width", 250):
        print(
            frame[
                ["version", "created", "author", "placeholders", "parameters", "sha256", "description"]
            ].to_string(index=False)
        )
    return 0


def _prompts_show(args: argparse.Namespace) -> int:
    print(_registry(args).get(args.version).text, end="")
    return 0


def _prompts_diff(args: argparse.Namespace) -> int:
    print(_registry(args).diff(args.a, args.b), end="")
    return 0


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"{path} does not exist") from None


def _prompts_create(args: argparse.Namespace) -> int:
    params = {"max_tokens": args.max_tokens, "temperature": args.temperature, "top_p": args.top_p}
    prompt = _registry(args).create(
        _read(args.body_file),
        version=args.version,
        description=args.description,
        author=args.author,
        parameters={k: v for k, v in params.items() if v is not None},
        system=_read(args.system_file) if args.system_file else None,
    )
    print(f"created prompt {prompt.version} at {prompt.path}")
    return 0


def _prompts_export(args: argparse.Namespace) -> int:
    registry = _registry(args)
    record = (
        registry.to_bedrock(args.version) if args.format == "bedrock" else registry.to_mlflow(args.version)
    )
    print(json.dumps(record, ensure_ascii=False, indent=2))
    return 0


def _prompts_import(args: argparse.Namespace) -> int:
    from workbench.errors import PromptError

    try:
        record = json.loads(_read(args.file))
    except json.JSONDecodeError as exc:
        raise PromptError(f"{args.file}:{exc.lineno}: not JSON ({exc.msg})") from None
    registry = _registry(args)
    prompt = (
        registry.from_bedrock(record, version=args.version)
        if args.format == "bedrock"
        else registry.from_mlflow(record, version=args.version)
    )
    print(f"created prompt {prompt.version} at {prompt.path}")
    return 0


def _review_export(args: argparse.Namespace) -> int:
    from workbench.evaluation.review_sheet import export_review_sheet
    from workbench.summary.history import open_history

    paths = export_review_sheet(open_history(), args.generation_ids, args.out, seed=args.seed, name=args.name)
    print(f"sheet: {paths.csv}\nsheet: {paths.xlsx}\nkey (keep away from reviewers): {paths.key}")
    return 0


def _review_import(args: argparse.Namespace) -> int:
    from workbench.evaluation.review_sheet import import_review_sheet
    from workbench.summary.history import open_history

    reviews = import_review_sheet(open_history(), args.sheet, args.key, reviewer=args.reviewer)
    for review in reviews:
        print(f"review {review.id} of {review.generation_id} by {review.reviewer}")
    return 0
