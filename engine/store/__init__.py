"""Durable storage of reads (TimescaleDB hypertables, or plain PostgreSQL partitions)."""

from .migrate import Backend, MigrationReport, migrate

__all__ = ["Backend", "MigrationReport", "migrate"]
