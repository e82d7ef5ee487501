"""The language server (pygls): lsprotocol types are used in this package and nowhere else."""

from .server import EditseqServer, create_server

__all__ = ["EditseqServer", "create_server"]
