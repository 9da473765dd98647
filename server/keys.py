"""Typed keys for what the application and each request carry."""

from __future__ import annotations

import weakref

from aiohttp import web
from strawberry.http.streaming import HTTPStreamTransport

from models.storage import IncomingFile, LocalStorage
from pubsub import Broker
from resolvers.loaders import CategoryTree
from server.caching import HttpCaching
from server.config import Settings
from server.errors import Outages
from server.fanout import SharedSubscriptions
from server.metrics import CountingBroker, Metrics
from server.persisted import PersistedQueries
from server.streams import Streams
from services.attachments import Limits
from services.live import EventFeed
from services.presence import PresenceHub
from services.rate_limit import Limiter
from services.users import KnownUsers
from services.viewer import Viewer

SETTINGS = web.AppKey("settings", Settings)
BROKER = web.AppKey("broker", Broker)
KNOWN_USERS = web.AppKey("known_users", KnownUsers)
FEED = web.AppKey("feed", EventFeed)
PRESENCE = web.AppKey("presence", PresenceHub)
SHARED = web.AppKey("shared_subscriptions", SharedSubscriptions)
METRICS = web.AppKey("metrics", Metrics)
OUTAGES = web.AppKey("outages", Outages)
COUNTING = web.AppKey("counting_broker", CountingBroker)
STORAGE = web.AppKey("storage", LocalStorage)
LIMITS = web.AppKey("attachment_limits", Limits)
RATE_LIMITER = web.AppKey("rate_limiter", Limiter)
PERSISTED = web.AppKey("persisted_queries", PersistedQueries)
CATEGORY_TREE = web.AppKey("category_tree", CategoryTree)
CACHING = web.AppKey("caching", HttpCaching)
STREAMS = web.AppKey("streams", Streams)
SOCKETS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("sockets")

REQUEST_ID = web.RequestKey("request_id", str)
VIEWER = web.RequestKey("viewer", Viewer)
TOKEN_EXPIRES = web.RequestKey("token_expires", float)
# The request's WebSocket once its upgrade is answered (101).
OPENED_SOCKET = web.RequestKey("opened_socket", web.WebSocketResponse)
MEDIA_TYPE = web.RequestKey("media_type", str)
CORS_HEADERS: web.RequestKey[dict[str, str]] = web.RequestKey("cors_headers")
STREAM: web.RequestKey[HTTPStreamTransport | None] = web.RequestKey("stream_transport")
INCOMING: web.RequestKey[dict[str, IncomingFile]] = web.RequestKey("incoming_files")
