"""Decode stage: brand providers (registers as data) and the one decoding rule."""

from .registry import (
    BRANDS,
    CONTROLLER_FAMILIES,
    BadValue,
    DecodedPoll,
    Provider,
    ProviderError,
    Register,
    brand_for_h1ver,
    decode_value,
    default_register,
    load_provider,
    normalize_index,
)

__all__ = [
    "BRANDS", "CONTROLLER_FAMILIES", "BadValue", "DecodedPoll", "Provider", "ProviderError",
    "Register", "brand_for_h1ver", "decode_value", "default_register", "load_provider",
    "normalize_index",
]
