"""Deterministic, unique-looking identifier strings made in bulk, without a Python loop per value."""

from __future__ import annotations

import numpy as np

_ALPHABET64 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_", np.uint8)
_DIGITS = np.frombuffer(b"0123456789", np.uint8)
_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)


def mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijection on uint64, so distinct keys stay distinct."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def token_strings(prefix: str, keys: np.ndarray, salt: int, length: int, alphabet: str = "b64") -> np.ndarray:
    """`prefix` + `length` characters derived from each key. The first 10 characters (60 bits of a
    bijective hash) make values unique for distinct keys in practice."""
    table = {"b64": _ALPHABET64, "digits": _DIGITS, "hex": _HEX}[alphabet]
    bits = {64: 6, 10: 0, 16: 4}[len(table)]
    keys = np.asarray(keys, dtype=np.int64)
    width = len(prefix) + length
    out = np.empty((len(keys), width), dtype=np.uint8)
    out[:, : len(prefix)] = np.frombuffer(prefix.encode(), np.uint8)
    with np.errstate(over="ignore"):
        state = mix64(keys.astype(np.uint64) ^ mix64(np.array([salt], np.uint64)))
    for position in range(length):
        if bits:
            per_word = 60 // bits
            if position and position % per_word == 0:
                state = mix64(state + np.uint64(position))
            symbol = (state >> np.uint64(bits * (position % per_word))) & np.uint64(len(table) - 1)
        else:  # decimal digits
            if position and position % 18 == 0:
                state = mix64(state + np.uint64(position))
            symbol = (state // np.uint64(10 ** (position % 18))) % np.uint64(10)
        out[:, len(prefix) + position] = table[symbol.astype(np.int64)]
    return out.view(f"S{width}").ravel().astype(f"U{width}")


def phone_numbers(keys: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mainland mobile numbers, unique per key: an affine map of the key inside a random prefix."""
    prefixes = np.array(
        [
            130,
            131,
            132,
            133,
            135,
            136,
            137,
            138,
            139,
            150,
            151,
            152,
            155,
            156,
            158,
            159,
            166,
            177,
            180,
            181,
            182,
            185,
            186,
            187,
            188,
            189,
            191,
            198,
            199,
        ]
    )
    keys = np.asarray(keys, dtype=np.int64)
    chosen = prefixes[rng.integers(0, len(prefixes), len(keys))]
    # 48271 is coprime with 10**8, so the map is injective for keys below 10**8 within one prefix.
    body = (keys * 48271 + 12_345_679) % 100_000_000
    numbers = chosen.astype(np.int64) * 100_000_000 + body
    return numbers.astype("U11")
