"""Grids: 1-D to N-D float arrays (CFD fields, detector images) coded within a bound (docs/grids.md).

- :mod:`bale.grid.predictors`: Lorenzo on the quantization lattice, closed-loop interpolation, contexts;
- :mod:`bale.grid.codec`: one grid to bytes and back (blocks, predictor choice, entropy coding, raw values);
- :mod:`bale.grid.files`: ``.npz``, ``.npy``, HDF5 and zarr in grid mode;
- :mod:`bale.grid.api`: compress, decompress, train and describe ``.bale`` files of grids.

The conv autoencoder is the ``conv`` family of :mod:`bale.models` (its training in :mod:`bale.training.conv`).
"""
