"""The command line: help everywhere, one-line errors with status 2, the config commands."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import bale
from bale.cli import main
from bale.config import TEMPLATE, BaleConfig
from common import JETS, NANOAOD

FAST = ["--epochs", "2", "--max-rows", "2048", "--no-progress"]


@pytest.mark.parametrize("command", [[], ["compress"], ["decompress"], ["info"], ["train"], ["init"], ["schema"]])
def test_help(runner: CliRunner, command: list[str]) -> None:
    result = runner.invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_compress_decompress_info(runner: CliRunner, tmp_path: Path) -> None:
    packed, out = tmp_path / "j.bale", tmp_path / "j.npz"
    result = runner.invoke(main, ["compress", str(JETS), "-o", str(packed), "--error", "rel=1e-3", *FAST])
    assert result.exit_code == 0, result.output
    assert "ratio" in result.output
    result = runner.invoke(main, ["decompress", str(packed), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists()
    result = runner.invoke(main, ["info", str(packed), "--json"])
    info = json.loads(result.output)
    assert info["rows"] == 2000 and info["file_bytes"] == packed.stat().st_size
    # refuses to overwrite without --force
    result = runner.invoke(main, ["decompress", str(packed), "-o", str(out)])
    assert result.exit_code != 0 and "--force" in result.output


def test_train_then_compress_with_model(runner: CliRunner, tmp_path: Path) -> None:
    model = tmp_path / "m.safetensors"
    assert runner.invoke(main, ["train", str(JETS), "-o", str(model), *FAST]).exit_code == 0
    packed = tmp_path / "x.bale"
    result = runner.invoke(main, ["compress", str(JETS), "-o", str(packed), "--model", str(model), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["model"]["embedded"] is False
    result = runner.invoke(main, ["decompress", str(packed), "-o", str(tmp_path / "x.parquet")])
    assert result.exit_code == 2
    assert "external model" in result.output
    result = runner.invoke(main, ["info", str(packed), "--model", str(model), "--json"])
    report = json.loads(result.output)
    assert report["model"]["bytes"] == model.stat().st_size
    assert report["ratio_with_model"] < report["ratio"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["compress", "missing.parquet"], "no such file"),
        (["compress", str(JETS), "--error", "rel=banana"], "bad error bound"),
        (["compress", str(JETS), "--error", "nosuchcol:rel=1e-3"], "unknown column"),
        (["compress", str(JETS), "--columns", "pt,nope"], "unknown column"),
        (["compress", str(JETS), "--error", "n_charged:rel=1e-3"], "exact"),
        (["info", "missing.bale"], "no such file"),
        (["decompress", str(JETS)], "not a .bale file"),
    ],
)
def test_errors_are_one_line(runner: CliRunner, tmp_path: Path, args: list[str], message: str) -> None:
    if args[0] == "compress":
        args = [*args, "-o", str(tmp_path / "out.bale"), *FAST]
    result = runner.invoke(main, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("bale: error:") and message in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "out.bale").exists()


def test_debug_shows_the_exception(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--debug", "info", "missing.bale"])
    assert result.exit_code != 0
    assert result.exception is not None


def test_corrupt_file_is_an_error(runner: CliRunner, tmp_path: Path) -> None:
    packed = tmp_path / "j.bale"
    assert runner.invoke(main, ["compress", str(JETS), "-o", str(packed), *FAST]).exit_code == 0
    data = bytearray(packed.read_bytes())
    data[len(data) // 3] ^= 0xFF
    packed.write_bytes(bytes(data))
    result = runner.invoke(main, ["decompress", str(packed), "-o", str(tmp_path / "o.parquet")])
    assert result.exit_code == 2
    assert "corrupt" in result.output or "checksum" in result.output
    assert not (tmp_path / "o.parquet").exists()


def test_init_writes_a_valid_template_and_config_is_used(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bale.toml"
    assert runner.invoke(main, ["init", str(path)]).exit_code == 0
    assert path.read_text() == TEMPLATE
    assert BaleConfig.model_validate(tomllib.loads(TEMPLATE)) == BaleConfig()
    assert runner.invoke(main, ["init", str(path)]).exit_code != 0  # no silent overwrite
    path.write_text('[compress]\nerror = "abs=0.5"\n[train]\nepochs = 2\nmax_rows = 2048\n')
    packed = tmp_path / "c.bale"
    result = runner.invoke(
        main, ["compress", str(JETS), "-o", str(packed), "--config", str(path), "--json", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["per_column"]["pt"]["bound"] == "abs=0.5"


def test_bad_config_is_named(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[train]\nepochs = -3\n")
    result = runner.invoke(main, ["compress", str(JETS), "-o", str(tmp_path / "x.bale"), "--config", str(path)])
    assert result.exit_code == 2
    assert "train.epochs" in result.output
    path.write_text("[model]\nlatent = 3\n")
    result = runner.invoke(main, ["compress", str(JETS), "--config", str(path)])
    assert result.exit_code == 2 and "model.latent" in result.output


def test_schema_is_json(runner: CliRunner) -> None:
    result = runner.invoke(main, ["schema"])
    schema = json.loads(result.output)
    assert set(schema["properties"]) == {"compress", "model", "train", "grid"}


HZZ = Path(__file__).parent / "data" / "uproot-HZZ.root"


def test_root_branches_globs_preset_and_root_out(runner: CliRunner, tmp_path: Path) -> None:
    import uproot

    packed, out = tmp_path / "ev.bale", tmp_path / "ev.root"
    result = runner.invoke(
        main,
        [
            "compress",
            str(NANOAOD),
            "-o",
            str(packed),
            "--branches",
            "Jet_pt",
            "Muon_*",
            "MET_pt",
            "--preset",
            "nanoaod",
            "-e",
            "Jet_pt:rel=1e-4",
            *FAST,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Muon (counter nMuon)" in result.output
    info = json.loads(runner.invoke(main, ["info", str(packed), "--json"]).output)
    bounds = {name: col["bound"] for name, col in info["per_column"].items()}
    assert bounds["Jet_pt"] == "rel=0.0001"  # the command line beats the preset
    assert bounds["Muon_eta"] == "rel=0.0001220703125"  # NanoAOD keeps 12 mantissa bits of muon eta
    assert bounds["MET_pt"] == "exact"  # and MET_pt at full precision
    assert set(info["tables"]) == {"", "Jet", "Muon"}
    result = runner.invoke(main, ["decompress", str(packed), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "200 events" in result.output
    with uproot.open(out) as f:
        names = set(f["Events"].keys())
    with uproot.open(NANOAOD) as f:
        everything = f["Events"].keys()
        muons = {b for b in everything if b.startswith("Muon_")}
    assert names == {"Jet_pt", "nJet", "MET_pt", "nMuon"} | muons


def test_keep_rest_and_unknown_preset(runner: CliRunner, tmp_path: Path) -> None:
    packed = tmp_path / "h.bale"
    result = runner.invoke(main, ["compress", str(HZZ), "-o", str(packed), "--branches", "Jet_*", "--keep-rest", *FAST])
    assert result.exit_code == 0, result.output
    info = json.loads(runner.invoke(main, ["info", str(packed), "--json"]).output)
    assert info["per_column"]["Muon_Px"]["bound"] == "exact"  # not selected: kept losslessly
    assert info["per_column"]["Jet_Px"]["bound"] == "rel=0.001"
    result = runner.invoke(main, ["compress", str(HZZ), "-o", str(tmp_path / "x.bale"), "--preset", "nope", *FAST])
    assert result.exit_code == 2 and "preset" in result.output and "nanoaod" in result.output


@pytest.mark.slow
def test_many_files_into_out_dir_and_rerun_skips(runner: CliRunner, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    import pyarrow.parquet as pq

    table = pq.read_table(JETS)
    for i in range(3):
        pq.write_table(table.slice(i * 300, 300), tmp_path / f"part{i}.parquet")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    model = tmp_path / "m.safetensors"
    assert runner.invoke(main, ["train", str(JETS), "-o", str(model), *FAST]).exit_code == 0
    args = [
        "compress",
        str(tmp_path / "part*.parquet"),
        str(tmp_path / "broken.parquet"),
        "--model",
        str(model),
        "--out-dir",
        str(tmp_path / "out"),
        "--jobs",
        "1",
        "--json",
        "--no-progress",
    ]
    result = runner.invoke(main, args)
    assert result.exit_code == 1, result.output  # the broken file fails, alone
    report = json.loads(result.output[result.output.index("{") :])
    status = {Path(f["input"]).name: f["status"] for f in report["files"]}
    assert status == {
        "part0.parquet": "done",
        "part1.parquet": "done",
        "part2.parquet": "done",
        "broken.parquet": "failed",
    }
    result = runner.invoke(main, args[:2] + args[3:])  # again, without the broken file: everything skipped
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert [f["status"] for f in report["files"]] == ["skipped"] * 3


# ------------------------------------------------------------------------------- a new user's first runs


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Training raises: a check that must come before any training proves it does."""
    import bale.api.compressing

    calls: list[str] = []

    def refuse(*args: object, **kwargs: object) -> None:
        calls.append("trained")
        raise AssertionError("trained before the output was checked")

    monkeypatch.setattr(bale.api.compressing, "_train", refuse)
    return calls


def _one_line_error(result: Any) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bale: error: "), result.output
    assert "Usage:" not in result.output
    return lines[0]


def test_missing_output_folder_is_reported_before_training(
    runner: CliRunner, tmp_path: Path, no_training: list[str]
) -> None:
    out = tmp_path / "no" / "such" / "folder" / "j.bale"
    line = _one_line_error(runner.invoke(main, ["compress", str(JETS), "-o", str(out), *FAST]))
    assert "does not exist" in line and str(out.parent) in line
    assert not no_training


def test_existing_output_is_reported_before_training_in_one_line(
    runner: CliRunner, tmp_path: Path, no_training: list[str]
) -> None:
    out = tmp_path / "j.bale"
    out.write_bytes(b"keep me")
    line = _one_line_error(runner.invoke(main, ["compress", str(JETS), "-o", str(out), *FAST]))
    assert "exists" in line and "--force" in line
    assert out.read_bytes() == b"keep me" and not no_training


@pytest.mark.parametrize("where", ["file", "proc", "folder"])
def test_unwritable_target_is_reported_before_training(
    runner: CliRunner, tmp_path: Path, no_training: list[str], where: str
) -> None:
    (tmp_path / "a_file").write_text("x")
    out = {
        "file": tmp_path / "a_file" / "j.bale",  # its "folder" is a file
        "proc": Path("/proc/bale-cannot-write-here.bale"),  # no one, not even root, creates files there
        "folder": tmp_path,  # a folder where a file should be
    }[where]
    if where == "proc" and not Path("/proc").is_dir():
        pytest.skip("no /proc")
    line = _one_line_error(runner.invoke(main, ["compress", str(JETS), "-o", str(out), *FAST]))
    assert {"file": "not a folder", "proc": "cannot write", "folder": "is a directory"}[where] in line
    assert not no_training


def test_evaluate_checks_its_out_dir_first(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("x")
    result = runner.invoke(main, ["evaluate", str(JETS), str(JETS), "-o", str(tmp_path / "taken"), "--no-plots"])
    assert "is a file" in _one_line_error(result)


def test_decompress_without_output_does_not_touch_the_original(runner: CliRunner, tmp_path: Path) -> None:
    original = tmp_path / "jets.parquet"
    original.write_bytes(JETS.read_bytes())
    packed = tmp_path / "jets.bale"
    assert runner.invoke(main, ["compress", str(original), "-o", str(packed), *FAST]).exit_code == 0
    result = runner.invoke(main, ["decompress", str(packed)])
    assert result.exit_code == 0, result.output
    written = tmp_path / "jets.decompressed.parquet"
    assert written.exists() and f"wrote {written}" in result.stderr
    assert original.read_bytes() == JETS.read_bytes()
    again = runner.invoke(main, ["decompress", str(packed)])  # the second time: refused in one line
    assert "exists" in _one_line_error(again)


def test_decompressed_name() -> None:
    from bale.cli.support import decompressed_name

    assert decompressed_name("x.bale", ".root") == Path("x.decompressed.root")
    assert decompressed_name("d/x.root.bale", ".root") == Path("d/x.decompressed.root")
    assert decompressed_name("x.bale", ".parquet") == Path("x.decompressed.parquet")
    assert decompressed_name("x", ".h5") == Path("x.decompressed.h5")


def _stage_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("bale [")]


def test_compress_says_what_each_step_does(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bale.cli.options

    monkeypatch.setattr(bale.cli.options, "_terminal", lambda: True)
    args = ["compress", str(JETS), "-o", str(tmp_path / "j.bale"), "--epochs", "2", "--max-rows", "2048"]
    result = runner.invoke(main, [*args, "--preset", "kinematic", "--json"])
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)  # stdout stays clean
    lines = _stage_lines(result.stderr)
    assert lines and lines[0].startswith("bale [   0.0 s] compressing"), result.stderr
    text = "\n".join(lines)
    order = ["reading", "preset kinematic: angles: abs=0.001: eta, phi", "training sample", "choosing a predictor",
             "coding every column"]  # fmt: skip
    positions = [text.index(word) for word in order]
    assert positions == sorted(positions), text
    quiet = runner.invoke(main, [*args, "--force", "--no-progress"])
    assert quiet.exit_code == 0 and not _stage_lines(quiet.stderr)


def test_evaluate_says_what_each_step_does(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bale.cli.options

    monkeypatch.setattr(bale.cli.options, "_terminal", lambda: True)
    result = runner.invoke(main, ["evaluate", str(JETS), str(JETS), "-o", str(tmp_path / "ev"), "--no-plots"])
    assert result.exit_code == 0, result.output
    text = "\n".join(_stage_lines(result.stderr))
    for words in ("evaluating", "reading the original", "comparing the 17 columns", "writing"):
        assert words in text, text


def test_a_long_step_is_not_silent(capsys: pytest.CaptureFixture[str]) -> None:
    import time

    from bale.stages import show_stages, stage

    with show_stages(True, heartbeat=0.3):
        stage("thinking")
        time.sleep(1.2)
    err = capsys.readouterr().err
    assert "thinking" in err and "... still thinking" in err
    stage("not shown")
    assert "not shown" not in capsys.readouterr().err


def test_greedy_branches_are_rewritten_not_patched() -> None:
    from bale.cli.support import expand_greedy

    names = ("--branches",)
    assert expand_greedy(["f.root", "--branches", "Jet_*", "MET_*", "-o", "x"], names) == [
        "f.root", "--branches", "Jet_*", "--branches", "MET_*", "-o", "x"
    ]  # fmt: skip
    assert expand_greedy(["--branches=a", "b", "--", "c"], names) == ["--branches=a", "--branches", "b", "--", "c"]
    assert expand_greedy(["--columns", "a", "b"], names) == ["--columns", "a", "b"]
    import bale.cli.options

    assert "_GreedyOption" not in vars(bale.cli)


@pytest.mark.slow
def test_info_summarizes_a_wide_file_and_lists_columns_on_request(runner: CliRunner, tmp_path: Path) -> None:
    """A file of 100s of columns: one line per table, bounds as written, --columns for the full list (issue 20)."""
    packed = tmp_path / "nano.bale"
    result = runner.invoke(main, ["compress", str(NANOAOD), "-o", str(packed), "--preset", "nanoaod", *FAST])
    assert result.exit_code == 0, result.output
    short = runner.invoke(main, ["info", str(packed)]).output
    full = runner.invoke(main, ["info", str(packed), "--columns"]).output
    n_columns = len(json.loads(runner.invoke(main, ["info", str(packed), "--json"]).output)["per_column"])
    assert n_columns > 500 and len(short.splitlines()) < 60 and len(full.splitlines()) > n_columns
    assert "Jet (counter nJet)" in short and "bits/value" in short and "--columns" in short
    assert "mantissa bits" in full and "0.00048828125" not in full
    assert "fallback columns" not in short or "no model predicts" in short
    widths = {line.index(" B ") for line in full.splitlines() if line.startswith("    ") and " B " in line}
    assert len(widths) == 1, "the column list is aligned"


def test_bounds_are_shown_as_written() -> None:
    from bale.cli.info_text import bound_text

    assert bound_text("rel=0.00048828125") == "10 mantissa bits"
    assert bound_text("rel=0.001") == "rel=1e-3" and bound_text("abs=0.01") == "abs=0.01"
    assert bound_text("exact") == "exact" and bound_text("abs=2.5e-05") == "abs=2.5e-5"


def test_list_options_share_one_convention(runner: CliRunner, tmp_path: Path) -> None:
    """--columns takes 'a,b' or a b, as --branches does; train names its predictors in words (issue 20)."""
    spaced, commas = tmp_path / "s.bale", tmp_path / "c.bale"
    one = runner.invoke(
        main, ["compress", str(JETS), "-o", str(spaced), "--columns", "pt", "eta", "--no-progress", *FAST]
    )
    two = runner.invoke(main, ["compress", str(JETS), "-o", str(commas), "--columns", "pt,eta", "--no-progress", *FAST])
    assert one.exit_code == 0 and two.exit_code == 0, one.output + two.output
    names = [sorted(bale.info(p)["per_column"]) for p in (spaced, commas)]
    assert names[0] == names[1] == ["eta", "pt"]
    trained = runner.invoke(
        main, ["train", str(JETS), "-o", str(tmp_path / "m.safetensors"), "--columns", "pt", "eta", *FAST]
    )
    assert trained.exit_code == 0, trained.output
    assert "predictors: " in trained.output and "{" not in trained.output
