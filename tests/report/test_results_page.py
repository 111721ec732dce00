"""docs/RESULTS.md: sections written from outputs, kept apart, and checked for staleness."""

import pandas as pd

from medimprint.report.results_page import (
    SOURCE,
    markdown_table,
    sections,
    stale_sections,
    updated_page,
)


def _section(auc: str, date: str = "2026-12-01") -> str:
    return f"## `config/x.yaml`\n\n{SOURCE} outputs of {date}.\n\n| AUC | {auc} |\n"


def test_markdown_table_escapes_cells_and_names_the_index():
    frame = pd.DataFrame({"a|b": ["x|y", "z"]}, index=pd.Index(["r1", "r2"], name="run"))
    lines = markdown_table(frame).splitlines()
    assert lines[0] == "| run | a\\|b |"
    assert lines[1] == "|---|---|"
    assert lines[2] == "| r1 | x\\|y |"


def test_updating_one_config_keeps_the_others():
    page = updated_page("", {"config/x.yaml": _section("0.800"), "config/y.yaml": "kept\n"})
    page = updated_page(page, {"config/x.yaml": _section("0.900")})
    assert sections(page) == {"config/x.yaml": _section("0.900"), "config/y.yaml": "kept\n"}
    assert page.index("config/x.yaml") < page.index("config/y.yaml")  # order kept


def test_a_changed_figure_is_stale_but_a_new_date_or_commit_is_not():
    page = updated_page("", {"config/x.yaml": _section("0.800")})
    assert stale_sections(page, {"config/x.yaml": _section("0.800", "2027-01-01")}) == {}
    stale = stale_sections(page, {"config/x.yaml": _section("0.801")})
    assert list(stale) == ["config/x.yaml"]
    assert "-| AUC | 0.800 |" in stale["config/x.yaml"]
    assert "+| AUC | 0.801 |" in stale["config/x.yaml"]
    missing = stale_sections(page, {"config/z.yaml": "x\n"})
    assert missing == {"config/z.yaml": ["no section for config/z.yaml in the page"]}
