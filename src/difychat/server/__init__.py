"""The difychat server (needs the ``server`` extra). Never imported by the client."""
