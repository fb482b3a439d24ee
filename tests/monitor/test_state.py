"""The state across repeated reorgs of one transaction, and a version 1 state file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.monitor.test_sinks import alert, header
from tracer.monitor.rules import CandidateRow
from tracer.monitor.state import MonitorState, notice_id

SINK = "jsonl:test"


def test_each_retraction_and_reinstatement_of_one_alert_has_its_own_stable_id(
    tmp_path: Path,
) -> None:
    event = alert(5)
    sent: list[dict[str, object]] = []
    with MonitorState(tmp_path / "state.sqlite") as state:
        state.start(1, header(0))
        sent += state.commit_window(1, [header(5)], [event], [], sinks=[SINK])
        for _round in range(2):  # orphaned and gone, then mined again: twice
            assert state.rewind(1, 4) == 1  # the notices of earlier rounds are not orphaned
            [orphan] = state.orphans(1)
            sent.append(state.retract(1, orphan, [SINK]))
            assert state.rewind(1, 4) == 0
            sent += state.commit_window(1, [header(5)], [event], [], sinks=[SINK])
        # The same window committed again (a re-run) raises nothing more.
        assert state.commit_window(1, [header(5)], [event], [], sinks=[SINK]) == []
        delivered = [item.payload for item in state.pending(SINK)]
    assert delivered == sent
    assert [(p["kind"], p.get("retracts"), p.get("reinstates")) for p in sent] == [
        ("outflow", None, None),
        ("retracted", event.id, None),
        ("outflow", None, event.id),
        ("retracted", event.id, None),
        ("outflow", None, event.id),
    ]
    assert [p["id"] for p in sent] == [
        event.id,
        notice_id(event.id, "retracted", 1),
        notice_id(event.id, "reinstated", 1),
        notice_id(event.id, "retracted", 2),
        notice_id(event.id, "reinstated", 2),
    ]
    assert len({p["id"] for p in sent}) == 5


def test_a_version_1_state_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    event, retraction = alert(5), {**alert(5).to_json(), "id": "tm1_r", "kind": "retracted"}
    with MonitorState(path) as state:
        state.start(1, header(0))
        state.commit_window(1, [header(5)], [event], [], sinks=[])
    with sqlite3.connect(path) as db:  # as version 1 left a retracted alert
        db.execute("ALTER TABLE alerts DROP COLUMN retractions")
        db.execute("UPDATE alerts SET state = 'retracted'")
        db.execute(
            "INSERT INTO alerts (id, chain_id, block_number, transaction_hash, state, raised_at,"
            " payload) VALUES ('tm1_r', 1, 5, ?, 'live', 0, ?)",
            (event.transaction_hash, json.dumps(retraction)),
        )
        db.execute("UPDATE meta SET value = '1' WHERE name = 'schema_version'")
    with MonitorState(path) as state:
        assert state.meta("schema_version") == "2"
        assert state.rewind(1, 4) == 0  # the old retraction is a notice now
        [again] = state.commit_window(1, [header(5)], [event], [], sinks=[])
    assert (again["id"], again["reinstates"]) == (notice_id(event.id, "reinstated", 1), event.id)


def test_candidate_rows_are_kept_dropped_and_rewound(tmp_path: Path) -> None:
    deposit = {"block_number": 5, "transaction_hash": "0x" + "01" * 32, "value_raw": "7"}
    later = {**deposit, "block_number": 6}
    kept = [
        CandidateRow("0xa", deposit),
        CandidateRow("0xa", deposit, "0xseed", 0, "0x" + "05" * 32),
        CandidateRow("0xb", later, "0xseed", 1, "0x" + "06" * 32),
    ]
    with MonitorState(tmp_path / "state.sqlite") as state:
        state.start(1, header(4))
        state.commit_window(1, [header(5), header(6)], [], [], sinks=[], candidates=kept)
        assert state.candidates(1) == kept
        state.commit_window(1, [header(7)], [], [], sinks=[], dropped=["0xa"])
        assert state.candidates(1) == kept[2:]
        state.rewind(1, 5)  # block 6 left the chain: so did what it showed
        assert state.candidates(1) == []
