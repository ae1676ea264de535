"""``vestnik admin media …`` and ``… numbering-plan import`` on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tests.support.admin_cli import (
    add_media,
    assert_refused,
    insert_session,
    make_account,
    rows,
    write_tone,
)
from tests.support.cli import CliRunner
from vestnik.store.schema import call_sessions, media_files, numbering_plan


def test_missing_files_are_refused(cli: CliRunner, tmp_path: Any) -> None:
    make_account(cli)
    assert_refused(cli("admin", "media", "add", "acme", str(tmp_path / "nope.wav")), "no such file")
    assert_refused(
        cli("admin", "numbering-plan", "import", str(tmp_path / "nope.csv")), "no such file"
    )


def test_media_add_converts_and_stores(cli: CliRunner, db: Engine, tmp_path: Path) -> None:
    import numpy as np
    import soundfile

    account_id = make_account(cli)
    wav = tmp_path / "greeting.wav"
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(16_000) / 16_000)
    soundfile.write(wav, tone, 16_000, subtype="PCM_16")
    run = cli("admin", "media", "add", "acme", str(wav), "--name", "Greeting", "--json")
    assert run.status == 0, run.err
    data = run.json
    [stored] = rows(db, media_files)
    assert data["media_file_id"] == stored["id"]
    assert (stored["account_id"], stored["name"], stored["type"]) == (
        account_id,
        "Greeting",
        "user",
    )
    assert stored["original_filename"] == "greeting.wav"
    assert abs(stored["duration_ms"] - 1000) <= 20
    pcm = tmp_path / "data" / stored["pcm_path"]
    assert pcm.stat().st_size == 2 * 8000 * stored["duration_ms"] // 1000
    assert (tmp_path / "data" / stored["original_path"]).read_bytes() == wav.read_bytes()
    # Without --name the file name gives the name.
    assert cli("admin", "media", "add", "acme", str(wav), "--json").json["name"] == "greeting"
    make_account(cli, "beta")
    assert cli("admin", "media", "add", "beta", str(wav)).status == 0
    listed = cli("admin", "media", "list", "acme", "--json").json
    assert [(m["name"], m["account_id"]) for m in listed] == [
        ("Greeting", account_id),
        ("greeting", account_id),
    ]
    assert "Greeting" in cli("admin", "media", "list", "acme").out


def test_media_add_refuses_non_audio(cli: CliRunner, db: Engine, tmp_path: Path) -> None:
    make_account(cli)
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n")
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    assert_refused(cli("admin", "media", "add", "acme", str(text)), "notes.wav")
    assert_refused(cli("admin", "media", "add", "acme", str(empty)), "empty.mp3")
    assert_refused(cli("admin", "media", "add", "nobody", str(text)), "not found")
    assert rows(db, media_files) == []
    media_folder = tmp_path / "data" / "media"
    assert not media_folder.exists() or list(media_folder.iterdir()) == []


PLAN_CSV = """АВС/ DEF;От;До;Емкость;Оператор;Регион;ИНН
916;0000000;0999999;1000000;ПАО "МТС";г. Москва и Московская область;7740000076
916;1000000;1999999;1000000;ПАО "МТС";г. Москва и Московская область;7740000076
"""


def test_numbering_plan_import(cli: CliRunner, db: Engine, tmp_path: Path) -> None:
    plan = tmp_path / "DEF-9xx.csv"
    plan.write_text(PLAN_CSV, encoding="utf-8")
    run = cli("admin", "numbering-plan", "import", str(plan), "--json")
    assert run.status == 0, run.err
    assert run.json["imported"] == 2
    stored = rows(db, numbering_plan)
    assert [(r["number_from"], r["number_to"]) for r in stored] == [
        (79160000000, 79160999999),
        (79161000000, 79161999999),
    ]
    assert stored[0]["region"] == "г. Москва и Московская область"
    bad = tmp_path / "bad.csv"
    bad.write_text("916;abc;def;1;x;y\n", encoding="utf-8")
    assert_refused(cli("admin", "numbering-plan", "import", str(bad)), "bad.csv", "line 1")
    assert len(rows(db, numbering_plan)) == 2


def test_media_remove_keeps_the_row_and_deletes_the_audio(
    cli: CliRunner, db: Engine, tmp_path: Path
) -> None:
    account_id = make_account(cli)
    make_account(cli, "beta")
    wav = write_tone(tmp_path / "greeting.wav")
    media_id = add_media(cli, "acme", wav)
    kept_id = add_media(cli, "acme", wav)
    foreign_id = add_media(cli, "beta", wav)
    data = tmp_path / "data"
    stored = {m["id"]: m for m in rows(db, media_files)}
    run = cli("admin", "media", "remove", "acme", str(media_id), "--json")
    assert run.status == 0, run.err
    assert run.json["media_file_id"] == media_id and run.json["account_id"] == account_id
    assert run.json["was_removed"] is False and run.json["files_deleted"] is True
    assert run.json["unfinished_sessions"] == 0 and run.json["removed_at_iso"] is not None
    after = {m["id"]: m for m in rows(db, media_files)}
    assert after[media_id]["removed_at"] == run.json["removed_at"]
    assert {k: v for k, v in after[media_id].items() if k != "removed_at"} == {
        k: v for k, v in stored[media_id].items() if k != "removed_at"
    }
    assert not (data / stored[media_id]["pcm_path"]).exists()
    assert not (data / stored[media_id]["original_path"]).exists()
    assert (data / stored[kept_id]["pcm_path"]).exists()
    listed = cli("admin", "media", "list", "acme", "--json").json
    assert [m["media_file_id"] for m in listed] == [kept_id]
    everything = cli("admin", "media", "list", "acme", "--all", "--json").json
    assert [(m["media_file_id"], m["removed_at"] is None) for m in everything] == [
        (media_id, False),
        (kept_id, True),
    ]
    assert "removed_at_iso" in cli("admin", "media", "list", "acme", "--all").out
    again = cli("admin", "media", "remove", "acme", str(media_id))
    assert again.status == 0 and "already" in again.out
    before = rows(db, media_files)
    assert_refused(cli("admin", "media", "remove", "acme", str(foreign_id)), "not a file of")
    assert_refused(cli("admin", "media", "remove", "acme", "999"), "not found")
    assert rows(db, media_files) == before
    assert (data / stored[foreign_id]["pcm_path"]).exists()


def test_system_media_file_cannot_be_removed(cli: CliRunner, db: Engine) -> None:
    make_account(cli)
    with db.begin() as conn:
        system_id = conn.execute(
            media_files.insert().values(type="system", name="beep", size=1, duration_ms=1,
                                        pcm_path="system/beep.pcm", created_at=1.0)
        ).inserted_primary_key[0]  # fmt: skip
    before = rows(db, media_files)
    assert_refused(cli("admin", "media", "remove", "acme", str(system_id)), "system file")
    assert rows(db, media_files) == before


def test_media_of_a_queued_session_keeps_its_audio_until_it_finishes(
    cli: CliRunner, db: Engine, tmp_path: Path
) -> None:
    account_id = make_account(cli)
    media_id = add_media(cli, "acme", write_tone(tmp_path / "greeting.wav"))
    [stored] = rows(db, media_files)
    pcm = tmp_path / "data" / stored["pcm_path"]
    session_id = insert_session(
        db, account_id, message_type="media", message_value=str(media_id), media_file_id=media_id
    )
    run = cli("admin", "media", "remove", "acme", str(media_id), "--json")
    assert run.status == 0, run.err
    assert run.json["unfinished_sessions"] == 1 and run.json["files_deleted"] is False
    assert pcm.exists()
    text = cli("admin", "media", "remove", "acme", str(media_id)).out
    assert "kept for 1 queued or in-progress" in text and "again once" in text
    with db.begin() as conn:
        conn.execute(
            call_sessions.update()
            .where(call_sessions.c.id == session_id)
            .values(state="finished", finish_reason="success_finish")
        )
    run = cli("admin", "media", "remove", "acme", str(media_id), "--json")
    assert run.json["was_removed"] is True and run.json["files_deleted"] is True
    assert not pcm.exists()
    shown = cli("admin", "session", "show", str(session_id), "--json").json
    assert shown["media_file_id"] == media_id and shown["message_value"] == str(media_id)
