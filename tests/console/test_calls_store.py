"""``store.console_calls``: the calls list's SQL on both backends — scoping by account, the
filters, live calls first then newest, paging without gaps or repeats; the detail's reads."""

from __future__ import annotations

from sqlalchemy import Engine

from tests.support.sessions import queue_session
from vestnik.config import LimitsConfig
from vestnik.store.accounts import create_account
from vestnik.store.console_calls import CallFilter, find_call, list_calls, phone_digits

T0 = 1_800_000_000.0


def _world(engine: Engine) -> tuple[int, int, list[int], list[int]]:
    """acme: 3 live sessions, then 110 finished ones a minute apart; beta: 5 finished."""
    with engine.begin() as conn:
        acme, beta = (create_account(conn, n, LimitsConfig()) for n in ("acme", "beta"))
        # Older (lower ids) than every finished one: still listed first.
        live = [queue_session(conn, acme, state=s, created_at=T0 - 5, contact="sip:desk_1@pbx")
                for s in ("queued", "ringing", "answered")]  # fmt: skip
        finished = [
            queue_session(conn, acme, state="finished", created_at=T0 + 60 * i,
                          contact=f"7916{i:07d}", external_id=f"order-{i}",
                          finish_reason="success_finish" if i % 2 else "subscriber_busy")
            for i in range(110)
        ]  # fmt: skip
        for i in range(5):
            queue_session(conn, beta, state="finished", created_at=T0 + i, contact="79990000000")
    return acme, beta, finished, live


def test_the_list_is_scoped_filtered_live_first_and_paged(engine: Engine) -> None:
    acme, beta, finished, live = _world(engine)
    with engine.connect() as conn:

        def ids(wanted: CallFilter | None = None, visible: list[int] | None = None,
                limit: int = 500, offset: int = 0) -> list[int]:  # fmt: skip
            rows = list_calls(conn, wanted or CallFilter(), visible, limit=limit, offset=offset)
            return [int(r["id"]) for r in rows]

        everything = ids(visible=[acme])
        assert everything == sorted(live, reverse=True) + sorted(finished, reverse=True)
        pages = [ids(visible=[acme], limit=50, offset=o) for o in (0, 50, 100)]
        assert [len(p) for p in pages] == [50, 50, 13]
        assert [i for page in pages for i in page] == everything  # no gap, no repeat
        small = [ids(visible=[acme], limit=2, offset=o) for o in range(0, 114, 2)]
        assert [i for page in small for i in page] == everything  # across live and finished
        assert len(ids()) == 118 and len(ids(visible=[beta])) == 5
        assert ids(CallFilter(account="beta")) == ids(visible=[beta])
        assert ids(CallFilter(account=str(beta))) == ids(visible=[beta])
        assert ids(CallFilter(account="beta"), visible=[acme]) == []  # a user's scope wins

        assert ids(CallFilter(contact=phone_digits("+7 916 000-00-42"))) == [finished[42]]
        assert ids(CallFilter(contact=phone_digits("desk_1"))) == sorted(live, reverse=True)
        assert ids(CallFilter(contact="desk%")) == []  # % and _ are taken literally
        assert ids(CallFilter(search="order-7")) == [finished[7]]
        assert ids(CallFilter(search="7 (916) 000-0007")) == [finished[7]]
        assert ids(CallFilter(external_id="order-3")) == [finished[3]]
        assert ids(CallFilter(session_id=finished[9])) == [finished[9]]
        assert ids(CallFilter(state="ringing")) == [live[1]]
        busy = ids(CallFilter(finish_reason="subscriber_busy"), visible=[acme])
        assert busy == [f for i, f in enumerate(finished) if i % 2 == 0][::-1]
        window = CallFilter(created_from=T0 + 60 * 10, created_till=T0 + 60 * 13)
        assert ids(window, visible=[acme]) == [finished[12], finished[11], finished[10]]

        assert find_call(conn, finished[0], [acme])["account_name"] == "acme"
        assert find_call(conn, finished[0], [beta]) is None
        assert find_call(conn, finished[0], None) is not None
        assert find_call(conn, 10**9, None) is None
