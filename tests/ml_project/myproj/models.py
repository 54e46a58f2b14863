from myproj.config import Reduce, WindowConfig
from myproj.layers import ResidualBlock, relu

_REDUCERS = {Reduce.MAX: max, Reduce.MEAN: lambda values: sum(values) / len(values)}


class WindowFilter:
    """Holds instances of three user classes from two modules, and a helper function as a default."""

    def __init__(self, config: WindowConfig, widths=(1, 2), activation=relu):
        self.config = config
        self.blocks = [ResidualBlock(width, activation) for width in widths]

    def apply(self, values):
        reduce = _REDUCERS[self.config.reduce]
        size = self.config.size
        windows = [reduce(values[i : i + size]) for i in range(len(values) - size + 1)]
        for block in self.blocks:
            windows = [block(value) for value in windows]
        return windows

    def smoothed(self, values):
        from scipy.ndimage import uniform_filter1d  # imported here only: the version still requires scipy

        return uniform_filter1d([float(value) for value in values], 2).tolist()
