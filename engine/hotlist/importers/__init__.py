"""Importers for real hotlist feeds, one module per feed behind one interface (base.Importer).

The plug-in pattern of openalpr_hotlist_import: `factory.create_importer(format)` picks the module,
each turns its feed's lines into `ImportedEntry` records (or `ImportProblem`s for lines it cannot use),
and `admin.import_entries` writes them into the same Redis layout an admin edits by hand.
"""

from .base import ImportedEntry, Importer, ImportProblem
from .factory import FORMATS, create_importer

__all__ = ["FORMATS", "ImportProblem", "ImportedEntry", "Importer", "create_importer"]
