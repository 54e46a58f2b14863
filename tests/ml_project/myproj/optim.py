from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator, model_validator


class Schedule(BaseModel):
    kind: Literal["constant", "cosine"] = "constant"
    warmup: int = Field(0, ge=0)


class OptimizerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lr: float = Field(1e-3, gt=0, le=1)
    momentum: float = 0.9
    schedule: Schedule = Schedule()
    tags: list[str] = []

    @field_validator("tags")
    @classmethod
    def lower_tags(cls, tags):
        return [tag.lower() for tag in tags]

    @model_validator(mode="after")
    def momentum_needs_small_lr(self):
        if self.momentum > 0.95 and self.lr > 0.1:
            raise ValueError("momentum above 0.95 needs lr <= 0.1")
        return self

    @computed_field
    @property
    def effective_lr(self) -> float:
        return self.lr * (1 - self.momentum)
