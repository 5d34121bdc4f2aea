"""benchmarks/RESULTS.md: the protocol is there, and the summary table agrees with its JSON.

Each row of the table under "## Summary" has a record `benchmarks/results/<id>.json` whose
fields equal the row's cells, and whose `figure_values` / `like_for_like_values` are the
numbers written in the row's figure and like-for-like cells. The checker is also run on
small broken examples, so that it is known to fail.
"""

import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
RECORDS = ROOT / "benchmarks" / "results"
HISTORY = ROOT / "benchmarks" / "history.md"

COLUMNS = ("id", "claim", "figure", "like_for_like", "seeds", "split", "command", "date",
           "commit", "status")
HEADER = ("id", "claim", "figure", "like-for-like", "seeds", "split", "command", "date",
          "commit", "status")
MAX_TABLE_LINES = 60
# 1.39, 23,765, 6.79e-4; not the digits of fp32, BLEU-4 or ids like 1e3x.
NUMBER = re.compile(r"(?<![A-Za-z_\d.,\-])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e-?\d+)?"
                    r"(?![\d,]*\d)")
STATUS = re.compile(r"follows protocol|NOT per protocol: \S|ratio not like-for-like: \S")


def numbers(text):
    """The numbers written in `text`, as floats (thousands separators removed)."""
    return [float(m.replace(",", "")) for m in NUMBER.findall(text)]


def split_row(line):
    if not (line.startswith("|") and line.endswith("|")):
        raise ValueError(f"a table line must start and end with '|', got {line[:60]!r}")
    return [cell.strip() for cell in line[1:-1].split("|")]


def summary_table(text):
    """(table lines, rows as dicts) of the first table after the '## Summary' heading."""
    lines = text.splitlines()
    if "## Summary" not in lines:
        raise ValueError("no '## Summary' heading")
    table = []
    for line in lines[lines.index("## Summary") + 1:]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    if len(table) < 3:
        raise ValueError(f"the summary table needs a header, a separator and rows, got "
                         f"{len(table)} lines")
    if tuple(split_row(table[0])) != HEADER:
        raise ValueError(f"summary header must be {HEADER}, got {tuple(split_row(table[0]))}")
    if not all(cell and set(cell) <= set("-:") for cell in split_row(table[1])):
        raise ValueError(f"second table line must be the separator, got {table[1]!r}")
    rows = []
    for number, line in enumerate(table[2:], start=3):
        cells = split_row(line)
        if len(cells) != len(COLUMNS):
            raise ValueError(f"table line {number} has {len(cells)} cells, expected "
                             f"{len(COLUMNS)}: {line[:60]!r}")
        rows.append(dict(zip(COLUMNS, cells)))
    return table, rows


def check_row(row, record, history_text):
    """Problems (strings) between one table row and its JSON record."""
    problems = []
    name = row["id"]
    for column in COLUMNS:
        cell = row[column]
        if column == "command":
            cell = cell.strip("`")
        if cell != record.get(column):
            problems.append(f"{name}: {column} in the table {cell!r} != JSON "
                            f"{record.get(column)!r}")
    for column in ("figure", "like_for_like"):
        if numbers(row[column]) != record.get(f"{column}_values"):
            problems.append(f"{name}: numbers of {column} {numbers(row[column])} != JSON "
                            f"{column}_values {record.get(f'{column}_values')}")
    if not numbers(row["figure"]):
        problems.append(f"{name}: the figure has no number")
    if not STATUS.match(row["status"]):
        problems.append(f"{name}: status {row['status']!r} is none of the three kinds")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["date"]):
        problems.append(f"{name}: date {row['date']!r} is not YYYY-MM-DD")
    if not re.fullmatch(r"[0-9a-f]{7,40}", row["commit"]):
        problems.append(f"{name}: commit {row['commit']!r} is not a commit hash")
    source = record.get("source", "")
    sections = re.findall(r"'([^']+)'", source)
    if not source.startswith("history.md section ") or not sections:
        problems.append(f"{name}: source {source!r} must be \"history.md section 'A' > ...\"")
    for section in sections:
        if section not in history_text:
            problems.append(f"{name}: section {section!r} is not in history.md")
    return problems


def check_summary(results_text, records_dir, history_text):
    """Every problem with the page, the table and the records, as a list of strings."""
    problems = []
    lines = results_text.splitlines()
    if "## Protocol" not in lines:
        problems.append("no '## Protocol' heading")
    elif "## Summary" in lines and lines.index("## Protocol") > lines.index("## Summary"):
        problems.append("the protocol must come before the summary table")
    table, rows = summary_table(results_text)
    if len(table) > MAX_TABLE_LINES:
        problems.append(f"the summary table has {len(table)} lines, more than "
                        f"{MAX_TABLE_LINES}")
    ids = [row["id"] for row in rows]
    if len(set(ids)) != len(ids):
        problems.append(f"duplicate ids: {sorted(i for i in set(ids) if ids.count(i) > 1)}")
    for row in rows:
        path = pathlib.Path(records_dir) / f"{row['id']}.json"
        if not path.is_file():
            problems.append(f"{row['id']}: no record {path.name}")
            continue
        problems += check_row(row, json.loads(path.read_text(encoding="utf-8")), history_text)
    for path in sorted(pathlib.Path(records_dir).glob("*.json")):
        if path.stem not in ids:
            problems.append(f"{path.name}: a record without a row in the table")
    return problems


def test_results_page_table_and_records_agree():
    problems = check_summary(RESULTS.read_text(encoding="utf-8"), RECORDS,
                             HISTORY.read_text(encoding="utf-8"))
    assert problems == []


def test_every_record_names_its_status_and_seeds():
    for path in RECORDS.glob("*.json"):
        record = json.loads(path.read_text(encoding="utf-8"))
        assert record["id"] == path.stem
        assert record["seeds"] and record["split"] and record["status"]


# ---- the checker itself, on small examples -------------------------------------------------

HISTORY_EXAMPLE = "## Speed\n### Fast part\n"
GOOD_RECORD = dict(
    id="speed", claim="speed vs baseline", figure="1.39× (earlier 1.65×)",
    like_for_like="0.88× bf16 both (23,765 vs 27,090)", seeds="n/a", split="n/a",
    command="python benchmarks/x.py --part y", date="2026-11-28", commit="e4ba669",
    status="ratio not like-for-like: precision differs", source="history.md section "
    "'Speed' > 'Fast part'", figure_values=[1.39, 1.65],
    like_for_like_values=[0.88, 23765.0, 27090.0])


def page(rows, protocol=True):
    header = "| " + " | ".join(HEADER) + " |\n|" + "---|" * len(HEADER) + "\n"
    body = "".join("| " + " | ".join(f"`{r[c]}`" if c == "command" else r[c]
                                     for c in COLUMNS) + " |\n" for r in rows)
    top = "# Results\n\n## Protocol\n\n1. rules\n\n" if protocol else "# Results\n\n"
    return top + "## Summary\n\n" + header + body + "\nafter the table\n"


def write_records(directory, records):
    for record in records:
        (directory / f"{record['id']}.json").write_text(json.dumps(record))
    return directory


def test_checker_accepts_a_good_example(tmp_path):
    write_records(tmp_path, [GOOD_RECORD])
    assert check_summary(page([GOOD_RECORD]), tmp_path, HISTORY_EXAMPLE) == []


def test_numbers_are_read_as_written():
    assert numbers("0.88× bf16 (23,765 vs 27,090), BLEU-4 0.972, diff 6.79e-4, fp32") == [
        0.88, 23765.0, 27090.0, 0.972, 6.79e-4]


@pytest.mark.parametrize("change, message", [
    (dict(figure="1.40× (earlier 1.65×)"), "figure in the table"),
    (dict(commit="main"), "not a commit hash"),
    (dict(status="fine"), "none of the three kinds"),
    (dict(date="30 Nov"), "not YYYY-MM-DD"),
])
def test_checker_finds_a_row_that_differs_from_its_record(tmp_path, change, message):
    write_records(tmp_path, [GOOD_RECORD])
    problems = check_summary(page([{**GOOD_RECORD, **change}]), tmp_path, HISTORY_EXAMPLE)
    assert any(message in p for p in problems), problems


def test_checker_finds_numbers_that_disagree_with_the_record(tmp_path):
    write_records(tmp_path, [{**GOOD_RECORD, "like_for_like_values": [0.87, 23765.0, 27090.0]}])
    problems = check_summary(page([GOOD_RECORD]), tmp_path, HISTORY_EXAMPLE)
    assert any("numbers of like_for_like" in p for p in problems), problems


def test_checker_finds_missing_and_orphan_records(tmp_path):
    other = {**GOOD_RECORD, "id": "orphan"}
    write_records(tmp_path, [other])
    problems = check_summary(page([GOOD_RECORD]), tmp_path, HISTORY_EXAMPLE)
    assert "speed: no record speed.json" in problems
    assert "orphan.json: a record without a row in the table" in problems


def test_checker_finds_a_source_section_not_in_history(tmp_path):
    write_records(tmp_path, [{**GOOD_RECORD, "source": "history.md section 'Slow part'"}])
    problems = check_summary(page([GOOD_RECORD]), tmp_path, HISTORY_EXAMPLE)
    assert any("'Slow part' is not in history.md" in p for p in problems), problems


def test_checker_finds_a_long_table_and_a_missing_protocol(tmp_path):
    records = [{**GOOD_RECORD, "id": f"r{i}"} for i in range(MAX_TABLE_LINES)]
    write_records(tmp_path, records)
    problems = check_summary(page(records, protocol=False), tmp_path, HISTORY_EXAMPLE)
    assert "no '## Protocol' heading" in problems
    assert any("more than 60" in p for p in problems), problems


def test_parser_rejects_malformed_tables():
    good = page([GOOD_RECORD])
    with pytest.raises(ValueError, match="cells, expected 10"):
        summary_table(good.replace(" | n/a | n/a |", " | n/a |", 1))
    with pytest.raises(ValueError, match="summary header"):
        summary_table(good.replace("| like-for-like |", "| ratio |"))
    with pytest.raises(ValueError, match="no '## Summary' heading"):
        summary_table(good.replace("## Summary", "## Table"))
    with pytest.raises(ValueError, match="header, a separator and rows"):
        summary_table("## Summary\n\n| id |\n")
