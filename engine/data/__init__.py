"""Data sets for training: embedded sets, the official on-disk formats, preprocessing.

Images are uint8 NHWC (batch, height, width, depth) until a batch is formed; `Normalizer`
turns a batch into float32 and `augment` flips and shifts it.
"""

from engine.data.dataset import DataError, DataSet
from engine.data.load import EMBEDDED, data_source, load_data
from engine.data.preprocess import Normalizer, augment

__all__ = ["DataError", "DataSet", "EMBEDDED", "Normalizer", "augment", "data_source", "load_data"]
