"""The end-user web app: the chat pages, ``/embed.js``, and the web API under ``/api`` they call.

The web API's handlers call the same services as ``/v1``; only who is calling differs: a passport
(``context.py``) instead of an app key and a ``user`` field.
"""
