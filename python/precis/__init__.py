"""précis's Rust core over Arrow: the pipeline's features and summarizers for pyarrow tables,
and the steps of the backfill job (``python -m precis.backfill``, or ``precis backfill``).

    >>> import pyarrow as pa, precis
    >>> articles = pa.table({"title": ["..."], "content": ["..."]})
    >>> summarizer = precis.Summarizer()           # configured as `precis run` would be
    >>> summarizer.summarize(precis.features(articles))

Every column is the one the summaries table holds, computed by the same code.
"""

from precis._core import Backfill, Summarizer, features, load_settings

__all__ = ["Backfill", "Summarizer", "features", "load_settings"]
