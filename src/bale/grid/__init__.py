"""Grids: 1-D to N-D float arrays (CFD fields, detector images) coded within a bound (docs/grids.md).

- :mod:`bale.grid.predictors`: Lorenzo on the quantization lattice, closed-loop interpolation, contexts
  (the vectorized reference); :mod:`bale.grid.kernels`: the same compiled (numba), as the codec runs them;
- :mod:`bale.grid.lattice`: the quantization step, domain, reconstruction and miss check;
- :mod:`bale.grid.layout`: predictor ids, blocks and the parts of a coded grid;
- :mod:`bale.grid.streams`: residual streams (rANS by context or zstd) and their estimated bytes;
- :mod:`bale.grid.plans`: plans (blocks, a predictor each) priced without coding, and the one kept written;
- :mod:`bale.grid.codec`: one grid to bytes and back;
- :mod:`bale.grid.files`: ``.npz``, ``.npy``, HDF5 and zarr in grid mode;
- :mod:`bale.grid.api`: compress, decompress, train and describe ``.bale`` files of grids.

The conv autoencoder is the ``conv`` family of :mod:`bale.models` (its training in :mod:`bale.training.conv`).
"""
