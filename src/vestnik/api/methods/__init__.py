"""The Call API's methods: ``start.informer_call``, ``release.call``/``list.calls``,
``login.user``/``logout.user``."""
