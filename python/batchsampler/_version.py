"""The package's version: must equal the extension's (BS_VERSION_STRING in
include/batchsampler.h), which batchsampler checks at import."""

__version__ = "0.1.0"
