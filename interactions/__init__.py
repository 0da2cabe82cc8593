"""The drug catalogue model and the interaction engine.

This package knows nothing of HTTP, the database or FEST XML: it holds plain records
(`interactions.model`), a compiled in-memory interaction index (`interactions.engine`) and
a name search over the catalogue (`interactions.search`).
"""
