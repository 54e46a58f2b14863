import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from myproj.encoders import FrequencyEncoder


class ChurnModel(ClassifierMixin, BaseEstimator):
    """A classifier holding another user estimator; its model's library is imported inside fit()."""

    def __init__(self, encoder=None, C=1.0):
        self.encoder = encoder
        self.C = C

    def fit(self, X, y):
        from sklearn.linear_model import LogisticRegression  # an import inside a method: still a requirement

        self.encoder_ = (self.encoder or FrequencyEncoder()).fit(X)
        self.model_ = LogisticRegression(C=self.C).fit(self.encoder_.transform(X), y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(self.encoder_.transform(X))

    def predict_proba(self, X):
        return np.round(self.model_.predict_proba(self.encoder_.transform(X)), 6)
