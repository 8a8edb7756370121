"""Policy: who may touch ALPR data, and the record that they did (policy 462, Civil Code § 1798.90.52).

Accounts and roles (`accounts`, `directory`), passwords, the TOTP second factor (`mfa`), training
records (`training`), sessions and login (`sessions`), the purposes a query must state (`purposes`),
the checks a data route makes (`gate`), and the hash-chained, append-only access log
(`access_log`). Every function takes a psycopg connection and the `access` settings it needs; the
API and the CLI decide nothing about policy themselves, so a web search and a CLI search are refused
or logged alike.

The package does not import its modules here: importing one (say `purposes`) should not load
argon2 or cryptography.
"""
