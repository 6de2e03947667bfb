"""Errors raised while setting Herald up, before any mail moves.

Each message is written for the operator: it says what is wrong and what to do about it. The
``herald`` command prints it as is and exits with status 2.
"""

from __future__ import annotations


class HeraldConfigError(Exception):
    """Herald cannot start as configured. Read the message, fix the machine or the settings
    (``HERALD_*`` variables or the file named by ``HERALD_CONFIG``), and start again."""


class MissingTool(HeraldConfigError):
    """A program the embedded Kafka broker needs (Java 17+, or Maven for the first download)
    is not installed. Install it, or set ``HERALD_KAFKA_BOOTSTRAP`` to an existing cluster so
    no embedded broker is needed."""


class JarDownloadFailed(HeraldConfigError):
    """Maven could not fetch the embedded broker's jars. Check network access to Maven Central
    (or the mirror in ``~/.m2/settings.xml``); the message carries Maven's own output."""


class BrokerFailed(HeraldConfigError):
    """The embedded Kafka broker did not start or stopped on its own. The message carries the
    end of ``<data_dir>/kafka/broker.log``; a port already in use (``HERALD_KAFKA_PORT``,
    ``HERALD_KAFKA_CONTROLLER_PORT``) or a data dir of another broker are the usual causes."""


class TopicsNotCreated(HeraldConfigError):
    """The cluster refused to create Herald's topics. With an existing cluster, check that
    ``HERALD_REPLICATION_FACTOR`` does not exceed its broker count and that Herald's user may
    create topics (or create them beforehand with the names in ``streams/topics.py``)."""


class TlsFilesUnusable(HeraldConfigError):
    """The API cannot serve HTTPS with ``HERALD_TLS_CERT`` and ``HERALD_TLS_KEY``: a file is
    missing or unreadable, is not PEM, or the key does not belong to the certificate (or is
    encrypted). Point both at readable PEM files of one pair, or unset both for plain HTTP."""
