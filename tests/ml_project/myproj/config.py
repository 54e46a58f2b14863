import dataclasses
import enum


class Reduce(enum.Enum):
    MAX = "max"
    MEAN = "mean"


@dataclasses.dataclass(frozen=True)
class WindowConfig:
    size: int
    reduce: Reduce = Reduce.MEAN

    def describe(self) -> str:
        return f"{self.reduce.value}/{self.size}"
