"""echofeed: seed articles and external feeds in, deduplicated Atom feeds out."""

__version__ = "0.1.0"
