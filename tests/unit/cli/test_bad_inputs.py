"""Every bad value a person can give the `alluse` command: one line on stderr naming the option and the
value, exit code 2, never a traceback, and nothing done. Run in-process: each is refused before any
engine starts."""

from decimal import Decimal

import pytest

from alluse.app.operator import JOURNAL_FILE
from alluse.cli import main
from alluse.execution.journal import Journal


@pytest.fixture
def data_dir(tmp_path):
    journal = Journal(tmp_path / JOURNAL_FILE)
    journal.record_deposit("Gen-Acc", Decimal(100_000), 5)
    journal.close()
    return tmp_path


@pytest.fixture
def not_a_dir(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    return blocker / "sub"


def refused(capsys, *argv: str) -> str:
    assert main(list(argv)) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: "), err
    return err


@pytest.mark.parametrize(
    "argv,message",
    [
        (["orders", "--limit", "-1"], "--limit=-1: must be 0 (all) or a positive count"),
        (["orders", "--limit", str(2**63)], f"--limit={2**63}: must be at most {2**63 - 1}"),
        (["orders", "--status", "bogus"], "--status='bogus': not an order status (one of INITIALIZED, DENIED,"),
        (["alerts", "--limit", "-1"], "--limit=-1: must be 0 (all) or a positive count"),
        (["alerts", "--limit", str(2**64)], f"--limit={2**64}: must be at most"),
        (["metrics", "--series", "x", "--minutes", "nan"], "--minutes=nan: must be a positive number of minutes"),
        (["metrics", "--series", "x", "--minutes", "-3"], "--minutes=-3.0: must be a positive number of minutes"),
        (["metrics", "--series", "x", "--minutes", "1e300"], "--minutes=1e+300: must be a positive number"),
        (["report", "--hours", "inf"], "--hours=inf: must be a positive number of hours"),
        (["report", "--hours", "1e308"], "--hours=1e+308: must be a positive number of hours"),
        (["report", "--since", "1000-01-01"], "--since='1000-01-01': before 1970"),
        (["report", "--since", "yesterday"], "--since='yesterday': not an ISO 8601 time"),
        (["bench", "--repeats", "0"], "--repeats=0: must be at least 1"),
        (["bench", "--only", "MD-1,ZZ-1"], "--only='MD-1,ZZ-1': unknown workload(s) ZZ-1"),
    ],
)
def test_a_bad_option_is_refused_in_one_line_naming_it(capsys, tmp_path, argv, message):
    assert message in refused(capsys, *argv, *(["--data-dir", str(tmp_path)] if argv[0] != "bench" else []))


def test_a_data_dir_or_out_dir_that_cannot_be_written_is_refused_before_any_work(capsys, not_a_dir):
    err = refused(capsys, "run", "--duration", "1", "--data-dir", str(not_a_dir))
    assert f"run.data_dir='{not_a_dir}': cannot write there (Not a directory)" in err
    err = refused(capsys, "bench", "--only", "MD-1", "--quick", "--out", str(not_a_dir))
    assert f"--out='{not_a_dir}': cannot write there (Not a directory)" in err


def test_operator_commands_refuse_an_unknown_account_and_a_missing_journal(capsys, data_dir, tmp_path):
    err = refused(capsys, "reducing", "--data-dir", str(data_dir), "--account", "Gen-Acc", "--account", "Nobody")
    assert "account='Nobody': not in this journal (known: Gen-Acc)" in err
    err = refused(capsys, "halt", "--data-dir", str(tmp_path / "none"))
    assert f"journal {tmp_path}/none/journal.db: no such file" in err


def test_an_error_message_is_printed_as_written_not_read_as_markup(capsys, data_dir):
    err = refused(capsys, "halt", "--data-dir", str(data_dir), "--account", "[bold]x[/]")
    assert "account='[bold]x[/]'" in err


def test_halt_reducing_and_resume_say_what_they_applied(capsys, data_dir):
    for argv, said in (
        (["halt", "--reason", "[red]stop[/]"], "Gen-Acc -> HALTED ([red]stop[/])"),
        (["halt", "--reducing"], "Gen-Acc -> REDUCING (operator)"),
        (["reducing", "--account", "Gen-Acc"], "Gen-Acc -> REDUCING (operator)"),
        (["resume"], "Gen-Acc -> ACTIVE (operator)"),
    ):
        assert main([*argv, "--data-dir", str(data_dir)]) == 0
        assert capsys.readouterr().out == said + "\n"
    journal = Journal(data_dir / JOURNAL_FILE, readonly=True)
    assert [s for _, _, s, _ in journal.trading_state_changes(0)] == ["HALTED", "REDUCING", "REDUCING", "ACTIVE"]
    journal.close()
