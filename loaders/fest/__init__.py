"""FEST M30 (2014-12-01) files: a streaming, hardened parser and a synthetic-file generator."""

from loaders.fest.parser import (
    FORSKRIVNING_NS,
    M30_NS,
    FestFormatError,
    FestReader,
    FestRelease,
    UnsafeXmlError,
    file_sha256,
    parse_catalogue,
    parse_release,
)

__all__ = [
    "FORSKRIVNING_NS",
    "M30_NS",
    "FestFormatError",
    "FestReader",
    "FestRelease",
    "UnsafeXmlError",
    "file_sha256",
    "parse_catalogue",
    "parse_release",
]
