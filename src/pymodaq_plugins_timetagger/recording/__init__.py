"""Raw time tags kept beside each dataset: Photon-HDF5 files per acquisition window (docs/recording.rst)."""
