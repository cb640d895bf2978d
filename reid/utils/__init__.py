"""Small shared services: atomic file writes, device choice, logging, seeding, state-dict loading."""
from .device import resolve_device
from .io import atomic_save, atomic_write_bytes, atomic_write_json, atomic_write_text
from .logging import setup_logger
from .seed import set_seed
from .state_dict import KeyReport, load_state_dict_with_report

__all__ = [
    "KeyReport",
    "atomic_save",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "load_state_dict_with_report",
    "resolve_device",
    "set_seed",
    "setup_logger",
]
