"""Evidence exports to portable media (policy 462.3): signed bundles, their verification, custody.

A bundle is what leaves the building on a disc or stick: the reads as CSV and JSON, their images,
and a manifest naming every file's SHA-256, signed with the department's Ed25519 key. Whoever holds
the department's public key can later show that nothing in it changed (`verify`). The database
keeps who exported what, and every later step of its chain of custody (`exports`). docs/evidence.md.
"""
