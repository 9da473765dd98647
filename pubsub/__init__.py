"""Delivery of committed ticket events between processes: one interface, swappable backends."""

from pubsub.broker import Broker, BrokerUnavailable, MemoryBroker, broker_from_url

__all__ = ["Broker", "BrokerUnavailable", "MemoryBroker", "broker_from_url"]
