import math


def relu(x):
    return max(x, 0.0)


def scaled_tanh(x, scale=2.0):
    return scale * math.tanh(x)


class ResidualBlock:
    def __init__(self, width, activation=relu):
        self.width = width
        self.activation = activation

    def __call__(self, x):
        return self.activation(x) * self.width + x
