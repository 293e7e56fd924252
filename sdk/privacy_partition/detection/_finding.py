"""``Finding`` lives at the bottom of the package (``privacy_partition._finding``), with
``Route`` and ``Action``, so that the layers above detection can name it without
importing the detection engine; it is re-exported here for the detection modules."""

from __future__ import annotations

from privacy_partition._finding import Finding

__all__ = ["Finding"]
