"""Quantization, entropy coding and the per-column codecs.

- :mod:`bale.codec.varint` and :mod:`bale.codec.bitpack`: byte-level helpers.
- :mod:`bale.codec.uint_stream`: unsigned integers to bytes (hybrid tokens, ANS).
- :mod:`bale.codec.exact`: lossless coding of exact columns.
- :mod:`bale.codec.lossy`: error-bounded coding of float columns around a prediction.
"""

#: The name of a chunk's section that holds the network's per-row codes (a name no column may take).
LATENT_SECTION = "@latent"
