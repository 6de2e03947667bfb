"""The operator dashboard: a Textual app that tails Herald's topics with its own consumer.

Pure state and formatting (``model``, ``stats``, ``filters``, ``lines``, ``format``, ``panes``,
``reports``) know nothing of Kafka or Textual widgets; ``kafka`` and ``probe`` are the I/O
edges; ``app``, ``widgets`` and ``screens`` are the Textual side. It imports only ``streams``
and ``config`` (the import contracts in pyproject.toml keep it so).
"""
