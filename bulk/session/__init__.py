"""The library's front door to one shop: :class:`~bulk.session.shop.Shop` (tokens, scheduler, transport,
the urgent lane's inventory front), run handles (:mod:`.runs`), the sync wrappers for scripts, and
:func:`~bulk.session.connect.shop_session` for processes of a fleet."""
