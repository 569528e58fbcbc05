"""The warehouse's views, one ``v_*.sql`` file each; installed as package data of ``multimodal_fer_warehouse``.

Read them with :func:`multimodal_fer.store.view_sql` (``importlib.resources``), never by a path into the checkout.
"""
