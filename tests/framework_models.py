"""Sources of classes built with real frameworks (pydantic v2, attrs, msgspec, SQLAlchemy), shared by
tests/test_frameworks.py and tests/e2e/test_frameworks_e2e.py, and the probes that exercise them.

Each probe is source text too: it runs where the producer's package exists and again in a consumer that has only
the store, so it cannot be imported from a file there. Probes return JSON-ready data (``json.loads(json.dumps())``
turns tuples into lists on both sides alike).
"""

from __future__ import annotations

import subprocess
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from environments import pip_for

# A package of two modules: the model pushed (fwmodels.leaf:Experiment) inherits from one in another module and
# uses nested models, a generic model parametrized in user code, a discriminated union, constraints, validators
# of every mode, a serializer, a computed field, private attributes, model_config with an alias generator, and
# (in base.py) `from __future__ import annotations`, so pydantic resolves every annotation from strings.
PYDANTIC_PACKAGE = {
    "fwmodels/__init__.py": "",
    "fwmodels/base.py": '''
        from __future__ import annotations

        import enum
        from typing import Annotated, Generic, Literal, Optional, TypeVar, Union

        from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, computed_field
        from pydantic import field_serializer, field_validator, model_validator

        T = TypeVar("T")
        SCALE = 3


        def _even(value: int) -> int:
            if value % 2:
                raise ValueError("must be even")
            return value


        Even = Annotated[int, AfterValidator(_even)]


        class Kind(str, enum.Enum):
            SGD = "sgd"
            ADAM = "adam"


        class Schedule(BaseModel):
            model_config = ConfigDict(frozen=True)
            warmup: int = Field(0, ge=0)
            steps: list[int] = Field(default_factory=lambda: [10, 20])


        class Page(BaseModel, Generic[T]):
            items: list[T] = []
            total: int = 0


        class Tags(BaseModel):
            root: list[str]

            def first(self) -> str:
                return self.root[0]


        class Cat(BaseModel):
            pet: Literal["cat"] = "cat"
            lives: int = 9


        class Dog(BaseModel):
            pet: Literal["dog"] = "dog"
            good: bool = True


        class Trainer(BaseModel):
            """Trains things."""

            model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=lambda name: name.upper())
            kind: Kind = Kind.ADAM
            lr: float = Field(0.01, gt=0, le=1, description="learning rate")
            batch: Even = 32
            schedule: Schedule = Schedule()
            history: Page[int] = Page[int]()
            tags: Optional[Tags] = None
            pet: Union[Cat, Dog] = Field(default_factory=Cat, discriminator="pet")
            notes: dict[str, list[float]] = {}
            old: int = Field(0, deprecated="use lr")
            _calls: int = PrivateAttr(default=0)

            @field_validator("lr", mode="before")
            @classmethod
            def parse_percent(cls, value):
                if isinstance(value, str) and value.endswith("%"):
                    return float(value[:-1]) / 100
                return value

            @model_validator(mode="after")
            def check(self) -> Trainer:
                if self.kind is Kind.SGD and self.lr > 0.5:
                    raise ValueError("sgd needs lr <= 0.5")
                return self

            @field_serializer("lr")
            def show_lr(self, value: float) -> str:
                return f"{value * 100:.1f}%"

            @computed_field
            @property
            def scaled(self) -> float:
                return self.lr * SCALE

            def model_post_init(self, context) -> None:
                self._calls += 1
    ''',
    "fwmodels/leaf.py": """
        from pydantic import BaseModel, model_serializer

        from fwmodels.base import Trainer


        class Point(BaseModel):
            x: int
            y: int = 0

            @model_serializer
            def as_pair(self):
                return [self.x, self.y]


        class Experiment(Trainer):
            name: str = "exp"
            origin: Point = Point(x=1)

            def describe(self) -> str:
                return f"{self.name}:{self.lr}"
    """,
}

# What a model accepts, rejects (with which errors) and produces: equal on both hosts.
PYDANTIC_PROBE = """
def probe(Experiment):
    import json
    import warnings

    out = {}
    made = Experiment(lr="20%", batch=4, tags={"root": ["a", "b"]}, pet={"pet": "dog"}, history={"items": [1, 2]})
    out["dump"] = made.model_dump(mode="json")
    out["json"] = made.model_dump_json()
    out["by_alias"] = made.model_dump(by_alias=True, mode="json")
    out["post_init_calls"] = made._calls
    out["first_tag"] = made.tags.first()
    out["describe"] = made.describe()
    out["fields"] = list(Experiment.model_fields)
    out["computed"] = list(Experiment.model_computed_fields)
    out["by_alias_input"] = Experiment.model_validate({"LR": 0.3}).lr
    from_json = Experiment.model_validate_json('{"LR": "5%", "BATCH": 6, "PET": {"pet": "cat", "lives": 3}}')
    out["from_json"] = from_json.model_dump(mode="json")
    out["frozen_nested"] = None
    try:
        made.schedule.warmup = 5
    except Exception as exc:
        out["frozen_nested"] = type(exc).__name__
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        made.old
    out["deprecation_warnings"] = [str(warning.message) for warning in caught]
    rejected = {}
    bad_inputs = {
        "constraint": {"lr": 2},
        "odd_batch": {"batch": 3},
        "extra": {"zzz": 1},
        "model_validator": {"kind": "sgd", "lr": 0.9},
        "union_tag": {"pet": {"pet": "fish"}},
        "nested_constraint": {"schedule": {"warmup": -1}},
        "nested_type": {"origin": {"x": "no"}},
        "optional_type": {"tags": {"root": "not a list"}},
        "dict_values": {"notes": {"a": ["x"]}},
    }
    for label, data in bad_inputs.items():
        try:
            Experiment(**data)
        except Exception as exc:
            errors = sorted([".".join(map(str, error["loc"])), error["type"]] for error in exc.errors())
            rejected[label] = [type(exc).__name__, errors]
        else:
            rejected[label] = None
    out["rejected"] = rejected
    out["json_schema"] = Experiment.model_json_schema()
    return json.loads(json.dumps(out))
"""

ATTRS_MODULE = {
    "fwattrs.py": """
        import attr
        import attrs


        def positive(instance, attribute, value):
            if value <= 0:
                raise ValueError(f"{attribute.name} must be positive")


        @attrs.define
        class Point:
            x: int = attrs.field(converter=int, validator=positive)
            y: int = 0
            tags: list = attrs.Factory(list)

            def norm(self):
                return abs(self.x) + abs(self.y)


        @attrs.frozen
        class Frozen:
            name: str = attrs.field(validator=attrs.validators.instance_of(str))
            weight: float = 1.5


        @attr.s(auto_attribs=True, hash=True)
        class Classic:
            name: str = attr.ib(converter=str.upper)
            count: int = attr.ib(default=3, validator=attr.validators.instance_of(int))


        class Suite:
            kinds = (Point, Frozen, Classic)

            def run(self):
                return [Point("5", 2).norm(), Frozen("a").weight, Classic("abc").name]
    """,
}

ATTRS_PROBE = """
def probe(Suite):
    import json

    Point, Frozen, Classic = Suite.kinds
    out = {"run": Suite().run()}
    out["point"] = repr(Point("7", y=1))
    out["equal"] = Point(1) == Point("1")
    out["frozen_hash_equal"] = hash(Frozen("z")) == hash(Frozen("z"))
    out["classic"] = repr(Classic("xy", 4))
    out["classic_hash_equal"] = hash(Classic("q")) == hash(Classic("Q"))
    rejected = {}
    for label, make in {
        "validator": lambda: Point(-1),
        "converter": lambda: Point("not a number"),
        "instance_of": lambda: Frozen(3),
        "classic_instance_of": lambda: Classic("a", "3"),
    }.items():
        try:
            make()
        except Exception as exc:
            rejected[label] = type(exc).__name__
        else:
            rejected[label] = None
    out["rejected"] = rejected
    try:
        Frozen("a").name = "b"
    except Exception as exc:
        out["frozen"] = type(exc).__name__
    return json.loads(json.dumps(out))
"""

MSGSPEC_MODULE = {
    "fwmsgspec.py": """
        from typing import Optional

        import msgspec


        class Item(msgspec.Struct):
            name: str
            price: float = 1.0


        class Order(msgspec.Struct, frozen=True, kw_only=True):
            id: int
            items: list[Item] = []
            note: Optional[str] = None

            def total(self):
                return sum(item.price for item in self.items)
    """,
}

SQLALCHEMY_MODULE = {
    "fwsqlalchemy.py": """
        from typing import Optional

        from sqlalchemy import String
        from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


        class Base(DeclarativeBase):
            pass


        class User(Base):
            __tablename__ = "users"
            id: Mapped[int] = mapped_column(primary_key=True)
            name: Mapped[str] = mapped_column(String(30))
            nickname: Mapped[Optional[str]]

            def greet(self):
                return f"hi {self.name}"


        class Report:
            model = User

            def title(self):
                return self.model.__tablename__
    """,
}


def write_sources(folder: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: source}`` (dedented) under ``folder``; return ``folder``."""
    for relative, source in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    return folder


def install_frameworks(venv_pythons: dict[str, Path]) -> dict[str, Path]:
    """Install this process's pydantic and attrs (same versions) into each venv of the suite's ``venv_pythons``."""
    import attrs
    import pydantic

    wanted = [f"pydantic=={pydantic.VERSION}", f"attrs=={attrs.__version__}"]

    def install(python: Path) -> None:
        done = subprocess.run([*pip_for(python), "install", "-q", *wanted], capture_output=True, text=True)
        assert done.returncode == 0, f"pip install {' '.join(wanted)} into {python} failed:\n{done.stderr}"

    with ThreadPoolExecutor(max_workers=len(venv_pythons)) as pool:
        list(pool.map(install, venv_pythons.values()))
    return venv_pythons
