"""The web server of webhook mode (server) and its routes (endpoints)."""

from bot.web.endpoints import WebEndpoints
from bot.web.server import WebServer

__all__ = ["WebEndpoints", "WebServer"]
