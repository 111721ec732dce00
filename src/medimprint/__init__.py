"""medimprint: audit synthetic medical images for training-data and generator fingerprints."""

__version__ = "0.1.0"
