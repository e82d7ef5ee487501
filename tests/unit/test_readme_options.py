"""The README's option table is the one `editseq options` renders from editseq.options."""

from pathlib import Path

from editseq.cli import options_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_option_table_is_current():
    assert options_table() in README.read_text(), "run `editseq options` and paste it into README.md"
