"""Delivery of committed ticket events between processes: one interface, swappable backends."""

from pubsub.broker import Broker, MemoryBroker, broker_from_url

__all__ = ["Broker", "MemoryBroker", "broker_from_url"]
