"""The HTTP/websocket API for dispatchers, investigators and auditors."""

from .app import create_api

__all__ = ["create_api"]
