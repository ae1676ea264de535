"""What the APIs list: the Data API's datasets (one field table per method) and their pages,
and ``list.calls``' sessions.

* :mod:`~vestnik.store.reports.pages`: the field table's shape and ONE parameterised query
  per page (no client input reaches the SQL text);
* :mod:`~vestnik.store.reports.calls`: ``get.calls_report`` and ``get.call_legs_report``;
* :mod:`~vestnik.store.reports.lookups`: media files, virtual numbers, the blacklist, the
  account;
* :mod:`~vestnik.store.reports.active`: the sessions ``list.calls`` shows.
"""
