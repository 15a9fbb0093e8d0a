"""The execute dialog's fields for ``file`` / ``files`` inputs: the last run's references
come back prefilled and parse again, so a run can be repeated with the same files."""

from __future__ import annotations

from agentflow_app.nodes.triggers import InputSpec
from agentflow_app.state.execute import make_fields, parse_fields, place_upload

REF = {"$file": 12, "name": "invoice.pdf", "media_type": "application/pdf", "size": 635}


def test_file_references_round_trip_through_the_form() -> None:
    specs = [
        InputSpec(name="doc", type="file", required=True),
        InputSpec(name="extra", type="files"),
    ]
    fields = make_fields(specs, {"doc": REF, "extra": [REF, REF]})
    values, errors = parse_fields(fields)
    assert errors == {}
    assert values == {"doc": REF, "extra": [REF, REF]}


def test_a_value_that_is_not_a_reference_says_what_to_enter() -> None:
    fields = make_fields([InputSpec(name="doc", type="file", required=True)], {})
    fields[0]["value"] = '"invoice.pdf"'
    assert parse_fields(fields)[1]["doc"].startswith('Enter a file reference, e.g. {"$file": 12}')
    fields[0]["value"] = ""
    assert parse_fields(fields)[1]["doc"] == "Required."


def test_uploads_fill_the_empty_file_input_then_the_list() -> None:
    fields = make_fields(
        [InputSpec(name="doc", type="file"), InputSpec(name="extra", type="files")], {}
    )
    fields = place_upload(fields, REF)
    other = {**REF, "$file": 13, "name": "leads.csv", "size": 2048}
    fields = place_upload(fields, other)
    fields = place_upload(fields, other)
    values, errors = parse_fields(fields)
    assert errors == {}
    assert values == {"doc": REF, "extra": [other, other]}
    assert [f["files"] for f in fields] == [
        "invoice.pdf (635 bytes)",
        "leads.csv (2.0 KB), leads.csv (2.0 KB)",
    ]
