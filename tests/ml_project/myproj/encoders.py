import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class FrequencyEncoder(TransformerMixin, BaseEstimator):
    """Replaces each value of a column by its frequency in the training data."""

    def __init__(self, smoothing=1.0):
        self.smoothing = smoothing

    def fit(self, X, y=None):
        X = np.asarray(X)
        self.frequencies_ = []
        for column in X.T:
            values, counts = np.unique(column, return_counts=True)
            total = counts.sum() + self.smoothing * len(values)
            self.frequencies_.append(
                dict(zip(values.tolist(), ((counts + self.smoothing) / total).tolist(), strict=True))
            )
        return self

    def transform(self, X):
        X = np.asarray(X)
        columns = [
            [frequencies.get(value, 0.0) for value in column.tolist()]
            for frequencies, column in zip(self.frequencies_, X.T, strict=True)
        ]
        return np.asarray(columns).T
