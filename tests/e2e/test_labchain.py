"""LabChain's Remote Injection, run through remoteimport: its documentation's flows on hosts without the source.

Each flow runs as LabChain's "Remote Injection" guide shows it, with one line changed — the storage line becomes
``ri_labchain.enable(STORE, ...)`` — in fresh interpreters of the LabChain venv (tests/e2e/labchain_env.py): a
host with the source pushes, its folder is deleted, and hosts in empty folders (``python -I``) run the rest:

- the Quick Start (``CustomNormalizer``, ``DomainSpecificFilter`` and LabChain's ``StandardScalerPlugin`` in an
  ``F3Pipeline``, with Enum and dataclass parameters): ``item_dump`` on the laptop, ``build_from_dump`` on the
  server, predictions compared; a host served by ``$REMOTEIMPORT_STORE`` alone makes instances too;
- the sentiment tutorial's split: development laptop, training server, production API server, each training from
  the config; predictions and scores compared. Handing the trained pipeline from the training server to the API
  server with pickle is an expected failure (remoteimport.references, see the test);
- version management: ``check_status``'s three states, ``get_class_hash``, ``persist_class``, ``get_version`` by
  hash, prefix and tag, ``_get_remote_latest_meta``; ``enable()`` before and after the classes are bound, and
  refusing a class instantiated before it; one hash in two processes;
- staging, then production with signing (``enable()`` called again): production's copies are signed, a host
  trusting the key loads them, a host trusting another key is refused.

Also: what of LabChain's internals the integration replaces is the code framework3 1.2.11 has
(remoteimport/integrations/_labchain_internals.py), a change names the installed version; and docs/labchain.md's
example prints what the page shows.

The venv is built by ``.ci/run``; elsewhere the tests skip, saying how to build it (under ``CI=true`` they fail).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from docs_pages import fenced_blocks
from environments import IN_CI
from labchain_env import BUILD_COMMAND, FRAMEWORK3, ready_python
from support import delete, write_files

import remoteimport
from remoteimport import signing
from remoteimport.store import Store

pytestmark = pytest.mark.slow
TIMEOUT = 240  # `import labchain` alone takes ~5 s; a loaded 2-core machine may take several times that
HEX64 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def python() -> Path:
    found = ready_python()
    if found is None:
        message = (
            f"the LabChain test venv (framework3 {FRAMEWORK3}) is not built: run `{BUILD_COMMAND}` "
            "(about a minute and 0.9 GB next to the main interpreter's torch)"
        )
        if IN_CI:
            pytest.fail(f"{message}. CI=true, so this fails (.ci/run builds it)", pytrace=False)
        pytest.skip(message)
    return found


def _environment() -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("REMOTEIMPORT_") or key == "REMOTEIMPORT_CACHE_DIR"
    }
    environment["PYTHONDONTWRITEBYTECODE"] = "1"  # leave nothing behind in the laptop's folder
    environment["WANDB_MODE"] = "disabled"  # imported by `import labchain`: never reaches out
    return environment


def run(
    python: Path, folder: Path, code: str, *args: str, isolated: bool = False, variables: dict[str, str] | None = None
) -> Any:
    """Run ``code`` in the LabChain venv in ``folder``; return the JSON value it printed last. ``isolated``: a
    host without the source (``python -I`` in an empty folder: neither the folder nor PYTHONPATH on sys.path);
    ``variables``: set in its environment."""
    folder.mkdir(parents=True, exist_ok=True)
    if isolated:
        assert not any(folder.iterdir()), f"{folder} is not empty"
    command = [str(python), *(["-I"] if isolated else []), "-c", textwrap.dedent(code), *args]
    try:
        done = subprocess.run(
            command,
            cwd=folder,
            env={**_environment(), **(variables or {})},
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"a host did not finish in {TIMEOUT} s\n{exc.stderr}") from None
    if done.returncode != 0:
        output = f"stdout:\n{done.stdout[-6000:]}\nstderr:\n{done.stderr}"
        raise AssertionError(f"a host exited with {done.returncode}\n{output}")
    lines = done.stdout.strip().splitlines()  # LabChain prints its progress: the report is the last line
    assert lines, "the host printed nothing"
    return json.loads(lines[-1])


# ---------------------------------------------------------------------------------------------------------
# Quick Start

MY_FILTERS = """
import dataclasses
import enum

import numpy as np
from labchain import Container
from labchain.base import BaseFilter, XYData

EPSILON = 1e-8


class Mode(enum.Enum):
    STANDARD = "standard"
    ROBUST = "robust"


@dataclasses.dataclass
class Clip:
    low: float
    high: float
    mode: Mode = Mode.STANDARD


@Container.bind(persist=True)
class CustomNormalizer(BaseFilter):
    def __init__(self, scale: float = 1.0, mode: Mode = Mode.STANDARD, clip: Clip | None = None):
        super().__init__(scale=scale, mode=mode, clip=clip)
        self._mean = None
        self._std = None

    def fit(self, x: XYData, y=None):
        self._mean = np.median(x.value, axis=0) if self.mode is Mode.ROBUST else x.value.mean(axis=0)
        self._std = x.value.std(axis=0)

    def predict(self, x: XYData) -> XYData:
        normalized = (x.value - self._mean) / (self._std + EPSILON)
        if self.clip is not None:
            normalized = np.clip(normalized, self.clip.low, self.clip.high)
        return XYData.mock(normalized * self.scale)


@Container.bind(persist=True, auto_push=True)
class DomainSpecificFilter(BaseFilter):
    def __init__(self, threshold: float = 0.5):
        super().__init__(threshold=threshold)

    def predict(self, x: XYData) -> XYData:
        return XYData.mock(np.where(x.value > self.threshold, x.value, 0.0))
"""

QUICK_START_LAPTOP = """
import json, sys
import remoteimport
import remoteimport.integrations.labchain as ri_labchain

STORE, EXCHANGE = sys.argv[1], sys.argv[2]
ri_labchain.enable(STORE)  # was: Container.storage = S3Storage(bucket="my-ml-models")

import numpy as np
from labchain import Container, F3Pipeline
from labchain.base import XYData
from labchain.plugins.filters import StandardScalerPlugin
from typeguard import TypeCheckError
from my_filters import Clip, CustomNormalizer, DomainSpecificFilter, Mode

hashes = {"bound": remoteimport.class_hash(CustomNormalizer)}
status = {"before push": Container.pcm.check_status(CustomNormalizer),
          "auto_push": Container.pcm.check_status(DomainSpecificFilter)}
pipeline = F3Pipeline(
    filters=[
        CustomNormalizer(scale=2.0, mode=Mode.ROBUST, clip=Clip(-1.5, 1.5, Mode.ROBUST)),
        DomainSpecificFilter(threshold=0.3),
        StandardScalerPlugin(),
    ]
)
hashes["instantiated"] = remoteimport.class_hash(CustomNormalizer)
rng = np.random.default_rng(7)
X_train, X_new = rng.normal(size=(100, 10)), rng.normal(size=(20, 10))
np.save(EXCHANGE + "/X_train.npy", X_train)
np.save(EXCHANGE + "/X_new.npy", X_new)
pipeline.fit(XYData.mock(X_train), None)
predictions = pipeline.predict(XYData.mock(X_new)).value.tolist()
config = pipeline.item_dump()
Container.ppif.push_all()
status["after push"] = Container.pcm.check_status(CustomNormalizer)
CustomNormalizer(scale=3.0)
status["after more instances"] = Container.pcm.check_status(CustomNormalizer)
hashes.update(
    pushed=remoteimport.class_hash(CustomNormalizer),
    _hash=CustomNormalizer._hash,
    get_class_hash=Container.pcm.get_class_hash(CustomNormalizer),
    latest_meta=Container.pcm._get_remote_latest_meta("CustomNormalizer")["hash"],
)
try:
    CustomNormalizer(scale="2.0")
    type_error = None
except TypeCheckError as exc:
    type_error = str(exc)
with open(EXCHANGE + "/pipeline_config.json", "w") as file:
    json.dump(config, file)
print(json.dumps({"hashes": hashes, "status": status, "predictions": predictions, "config": config,
                  "filter hash": DomainSpecificFilter._hash, "type error": type_error}))
"""

QUICK_START_SERVER = """
import importlib, importlib.util, json, sys
import remoteimport
import remoteimport.integrations.labchain as ri_labchain

STORE, EXCHANGE = sys.argv[1], sys.argv[2]
ri_labchain.enable(STORE)  # was: Container.storage = S3Storage(bucket="my-ml-models", region="us-east-1")

import numpy as np
from labchain import Container
from labchain.base import BasePlugin, XYData
from typeguard import TypeCheckError

with open(EXCHANGE + "/pipeline_config.json") as file:
    config = json.load(file)
pipeline = BasePlugin.build_from_dump(config, Container.ppif)
pipeline.fit(XYData.mock(np.load(EXCHANGE + "/X_train.npy")), None)
predictions = pipeline.predict(XYData.mock(np.load(EXCHANGE + "/X_new.npy"))).value.tolist()

normalizer = pipeline.filters[0]
Normalizer = type(normalizer)
pinned = importlib.import_module("labchain_remote.CustomNormalizer@" + config["params"]["filters"][0]["version_hash"])
Mode = type(normalizer.mode)
try:
    Normalizer(scale="2.0")
    type_error = None
except TypeCheckError as exc:
    type_error = str(exc)
print(json.dumps({
    "predictions": predictions,
    "source here": importlib.util.find_spec("my_filters") is not None,
    "the hook's class": Normalizer is pinned.CustomNormalizer,
    "the hook's latest": (
        Container.ppif["DomainSpecificFilter"] is importlib.import_module("labchain_remote").DomainSpecificFilter
    ),
    "mode": repr(normalizer.mode),
    "mode is the class's own": normalizer.mode is Mode.ROBUST and normalizer.clip.mode is Mode.ROBUST,
    "clip": repr(normalizer.clip),
    "hashes": [remoteimport.class_hash(Normalizer), Normalizer._hash, Container.pcm.get_class_hash(Normalizer)],
    "dumped again": pipeline.item_dump() == config,
    "type error": type_error,
}))
"""


# A host that only sets $REMOTEIMPORT_STORE (docs/zero-code.md) and never calls enable(): loading a stored LabChain
# class runs LabChain through remoteimport there too, so instances can be made without the module's source.
ZERO_CODE_HOST = """
import json
import numpy as np
from labchain_remote import DomainSpecificFilter
from labchain.base import XYData

found = DomainSpecificFilter(threshold=0.5)
print(json.dumps(found.predict(XYData.mock(np.array([0.2, 0.7, 1.5]))).value.tolist()))
"""


@pytest.fixture(scope="module")
def quick_start(python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("labchain_quick_start")
    laptop = write_files(root / "laptop", {"my_filters.py": MY_FILTERS})
    store, exchange = str(root / "store"), root / "exchange"
    exchange.mkdir()
    a = run(python, laptop, QUICK_START_LAPTOP, store, str(exchange))
    delete(laptop)
    with ThreadPoolExecutor(max_workers=2) as pool:
        server = pool.submit(run, python, root / "server", QUICK_START_SERVER, store, str(exchange), isolated=True)
        zero_code = pool.submit(
            run, python, root / "zero-code", ZERO_CODE_HOST, isolated=True, variables={"REMOTEIMPORT_STORE": store}
        )
        b, plain = server.result(), zero_code.result()
    return {"a": a, "b": b, "zero code": plain, "store": store}


def test_quick_start_runs_unchanged_on_a_server_without_the_source(quick_start: dict[str, Any]) -> None:
    a, b = quick_start["a"], quick_start["b"]
    assert not b["source here"]
    assert len(a["predictions"]) == 20 and b["predictions"] == a["predictions"]


def test_a_host_served_by_the_variable_alone_makes_instances_of_stored_classes(quick_start: dict[str, Any]) -> None:
    assert quick_start["zero code"] == [0.0, 0.7, 1.5]


def test_the_factory_gives_the_class_the_hook_imports(quick_start: dict[str, Any]) -> None:
    """``build_from_dump`` and ``Container.ppif[name]`` hand out ``labchain_remote.Name@hash``'s very class."""
    assert quick_start["b"]["the hook's class"] is True
    assert quick_start["b"]["the hook's latest"] is True


def test_labchain_never_changes_the_hash(quick_start: dict[str, Any]) -> None:
    """Binding writes ``_hash`` into the class and ``BasePlugin.__new__`` used to rewrite it with typeguard:
    the hash stays remoteimport's, before and after instances exist, on the laptop and on the server."""
    hashes = quick_start["a"]["hashes"]
    full = hashes["pushed"]
    assert HEX64.match(full)
    assert set(hashes.values()) == {full}
    assert quick_start["b"]["hashes"] == [full] * 3


def test_check_status_says_synced_after_push_all_whatever_was_instantiated(quick_start: dict[str, Any]) -> None:
    assert quick_start["a"]["status"] == {
        "before push": "untracked",
        "auto_push": "synced",  # @Container.bind(persist=True, auto_push=True) pushed it when binding
        "after push": "synced",
        "after more instances": "synced",
    }


def test_item_dump_carries_full_hashes_and_enum_and_dataclass_parameters_round_trip(
    quick_start: dict[str, Any],
) -> None:
    a, b = quick_start["a"], quick_start["b"]
    normalizer, domain, scaler = a["config"]["params"]["filters"]
    assert normalizer["version_hash"] == a["hashes"]["pushed"] and domain["version_hash"] == a["filter hash"]
    assert HEX64.match(domain["version_hash"]) and scaler["version_hash"] is None  # LabChain's own plugin
    mode = normalizer["params"]["mode"]
    assert mode["clazz"] == "Mode" and HEX64.match(mode["version_hash"]) and mode["params"] == {"value": "robust"}
    assert normalizer["params"]["clip"]["params"] == {"low": -1.5, "high": 1.5, "mode": mode}
    assert b["mode"] == "<Mode.ROBUST: 'robust'>"
    assert b["clip"] == "Clip(low=-1.5, high=1.5, mode=<Mode.ROBUST: 'robust'>)"
    assert b["mode is the class's own"] is True  # `self.mode is Mode.ROBUST` holds inside the loaded filter
    assert b["dumped again"] is True


def test_constructor_arguments_are_still_type_checked(quick_start: dict[str, Any]) -> None:
    for host in ("a", "b"):
        error = quick_start[host]["type error"]
        assert error is not None and 'argument "scale"' in error and "float" in error, (host, error)


def test_the_store_holds_them_as_remoteimport_versions(quick_start: dict[str, Any]) -> None:
    """``remoteimport ls/log/ui`` see what push_all pushed: one name per bound class, one push each."""
    store = Store(quick_start["store"])
    assert store.names() == ["CustomNormalizer", "DomainSpecificFilter"]
    history = remoteimport.versions("CustomNormalizer", store=store)
    assert [(entry.hash, entry.action) for entry in history] == [(quick_start["a"]["hashes"]["pushed"], "push")]


# ---------------------------------------------------------------------------------------------------------
# The sentiment tutorial: development laptop, training server, production API server

SENTIMENT_FILTERS = """
import zlib

import numpy as np
from labchain import Container
from labchain.base import BaseFilter, XYData


@Container.bind(persist=True)
class TextPreprocessor(BaseFilter):
    \"\"\"Custom text preprocessing for your domain.\"\"\"

    def __init__(self, lowercase: bool = True, remove_punctuation: bool = True):
        super().__init__(lowercase=lowercase, remove_punctuation=remove_punctuation)

    def predict(self, x: XYData) -> XYData:
        texts = list(x.value)
        if self.lowercase:
            texts = [t.lower() for t in texts]
        if self.remove_punctuation:
            import string
            texts = [t.translate(str.maketrans("", "", string.punctuation)) for t in texts]
        return XYData.mock(np.array(texts))


@Container.bind(persist=True)
class DomainEmbedding(BaseFilter):
    \"\"\"Custom embeddings trained on your domain (a seeded table: the same on every host).\"\"\"

    def __init__(self, vocab_size: int = 512, embedding_dim: int = 16, seed: int = 0):
        super().__init__(vocab_size=vocab_size, embedding_dim=embedding_dim, seed=seed)
        self._embeddings = None

    def fit(self, x: XYData, y=None):
        self._embeddings = np.random.default_rng(self.seed).normal(size=(self.vocab_size, self.embedding_dim))

    def predict(self, x: XYData) -> XYData:
        return XYData.mock(np.array([self._lookup_embedding(text) for text in x.value]))

    def _lookup_embedding(self, text):
        rows = [zlib.crc32(word.encode()) % self.vocab_size for word in str(text).split()] or [0]
        return self._embeddings[rows].mean(axis=0)


@Container.bind(persist=True)
class SentimentClassifier(BaseFilter):
    \"\"\"Final classification layer.\"\"\"

    def __init__(self, num_classes: int = 3):
        super().__init__(num_classes=num_classes)
        self._model = None

    def fit(self, x: XYData, y: XYData):
        from sklearn.linear_model import LogisticRegression
        self._model = LogisticRegression(max_iter=1000)
        self._model.fit(x.value, y.value)

    def predict(self, x: XYData) -> XYData:
        return XYData.mock(self._model.predict(x.value))
"""

TEXTS = {
    "train": [
        ("I love this, it is great!", 2),
        ("What a wonderful, happy day", 2),
        ("Great service, love it", 2),
        ("Absolutely wonderful and great", 2),
        ("happy happy, love love", 2),
        ("great great product!", 2),
        ("I hate this. Terrible!", 0),
        ("What an awful, sad day", 0),
        ("Terrible service, hate it", 0),
        ("absolutely awful and terrible", 0),
        ("sad sad, hate hate", 0),
        ("awful awful product.", 0),
        ("It is okay, I guess", 1),
        ("An ordinary day, nothing new", 1),
        ("Service was fine, okay", 1),
        ("quite ordinary and fine", 1),
        ("okay okay, fine fine", 1),
        ("a fine product; ordinary.", 1),
    ],
    "test": [
        "I love it, great!",
        "Terrible, I hate it.",
        "It is fine and okay",
        "wonderful happy service",
        "awful sad product",
        "an ordinary day",
    ],
}

TRAIN_PIPELINE = """
import json, sys
import remoteimport.integrations.labchain as ri_labchain

STORE, EXCHANGE = sys.argv[1], sys.argv[2]
ri_labchain.enable(STORE)  # was: Container.storage = S3Storage(bucket="my-sentiment-models", region_name="us-west-2")

import numpy as np
from labchain import Container, F3Pipeline
from labchain.base import XYData
from labchain.plugins.metrics import F1
from sentiment_filters import DomainEmbedding, SentimentClassifier, TextPreprocessor

with open(EXCHANGE + "/texts.json") as file:
    texts = json.load(file)
X_train = XYData.mock(np.array([text for text, _ in texts["train"]]))
y_train = XYData.mock(np.array([label for _, label in texts["train"]]))
X_test = XYData.mock(np.array(texts["test"]))

pipeline = F3Pipeline(
    filters=[
        TextPreprocessor(lowercase=True, remove_punctuation=True),
        DomainEmbedding(vocab_size=1024, embedding_dim=64),
        SentimentClassifier(num_classes=3),
    ],
    metrics=[F1(average="weighted")],
)
pipeline.fit(X_train, y_train)
y_pred = pipeline.predict(X_test)
metrics = pipeline.evaluate(X_train, y_train, pipeline.predict(X_train))

config = pipeline.item_dump()
Container.ppif.push_all()
with open(EXCHANGE + "/sentiment_pipeline_v1.json", "w") as file:
    json.dump(config, file)
print(json.dumps({"predictions": y_pred.value.tolist(), "metrics": metrics}))
"""

# A training server (the tutorial's "cloud GPU instance"): no source; builds the pipeline from the config, trains
# it, and saves the trained pipeline for the API server.
TRAINING_SERVER = """
import json, pickle, sys
import remoteimport.integrations.labchain as ri_labchain

STORE, EXCHANGE = sys.argv[1], sys.argv[2]
ri_labchain.enable(STORE)

import numpy as np
from labchain import Container
from labchain.base import BasePlugin, XYData

with open(EXCHANGE + "/texts.json") as file:
    texts = json.load(file)
with open(EXCHANGE + "/sentiment_pipeline_v1.json") as file:
    config = json.load(file)
pipeline = BasePlugin.build_from_dump(config, Container.ppif)
X_train = XYData.mock(np.array([text for text, _ in texts["train"]]))
y_train = XYData.mock(np.array([label for _, label in texts["train"]]))
pipeline.fit(X_train, y_train)
metrics = pipeline.evaluate(X_train, y_train, pipeline.predict(X_train))
try:
    trained = pickle.dumps(pipeline)
    pickle_error = None
except RecursionError as exc:  # remoteimport.references: see test_a_trained_pipeline_pickled_on_one_server...
    trained, pickle_error = None, type(exc).__name__
if trained is not None:
    with open(EXCHANGE + "/trained.pkl", "wb") as file:
        file.write(trained)
print(json.dumps({"predictions": pipeline.predict(XYData.mock(np.array(texts["test"]))).value.tolist(),
                  "metrics": metrics, "pickle error": pickle_error}))
"""

# The production API server: no source. A config carries no trained state, so it trains from the same data (as
# LabChain's own deployment test does); and it serves the pipeline the training server pickled.
API_SERVER = """
import json, os, pickle, sys
import remoteimport.integrations.labchain as ri_labchain

STORE, EXCHANGE = sys.argv[1], sys.argv[2]
ri_labchain.enable(STORE)  # was: Container.storage = S3Storage(bucket="my-sentiment-models", region_name="us-west-2")

import numpy as np
from labchain import Container
from labchain.base import BasePlugin, XYData

with open(EXCHANGE + "/sentiment_pipeline_v1.json") as file:
    config = json.load(file)
with open(EXCHANGE + "/texts.json") as file:
    texts = json.load(file)
pipeline = BasePlugin.build_from_dump(config, Container.ppif)
X_train = XYData.mock(np.array([text for text, _ in texts["train"]]))
pipeline.fit(X_train, XYData.mock(np.array([label for _, label in texts["train"]])))

label_map = {0: "negative", 1: "neutral", 2: "positive"}

def predict_sentiment(pipeline, texts: list[str]):
    predictions = pipeline.predict(XYData.mock(np.array(texts)))
    return {"predictions": [label_map[int(p)] for p in predictions.value]}

trained = None
if os.path.exists(EXCHANGE + "/trained.pkl"):
    with open(EXCHANGE + "/trained.pkl", "rb") as file:
        trained = predict_sentiment(pickle.load(file), texts["test"])["predictions"]
print(json.dumps({"served": predict_sentiment(pipeline, texts["test"])["predictions"], "served trained": trained,
                  "classes": sorted({type(f).__module__.partition("@")[0] for f in pipeline.filters})}))
"""


@pytest.fixture(scope="module")
def sentiment(python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("labchain_sentiment")
    laptop = write_files(root / "laptop", {"sentiment_filters.py": SENTIMENT_FILTERS})
    store, exchange = str(root / "store"), root / "exchange"
    write_files(exchange, {"texts.json": json.dumps(TEXTS)})
    laptop_report = run(python, laptop, TRAIN_PIPELINE, store, str(exchange))
    delete(laptop)
    training = run(python, root / "training", TRAINING_SERVER, store, str(exchange), isolated=True)
    api = run(python, root / "api", API_SERVER, store, str(exchange), isolated=True)
    return {"laptop": laptop_report, "training": training, "api": api}


LABELS = ["positive", "negative", "neutral", "positive", "negative", "neutral"]


def test_sentiment_tutorial_trains_and_serves_without_the_source(sentiment: dict[str, Any]) -> None:
    laptop, training, api = sentiment["laptop"], sentiment["training"], sentiment["api"]
    assert laptop["predictions"] == [2, 0, 1, 2, 0, 1]  # the model is right on every test sentence
    assert training["predictions"] == laptop["predictions"]
    assert training["metrics"] == laptop["metrics"] and laptop["metrics"]["F1"] > 0.9
    assert api["served"] == LABELS
    assert api["classes"] == [
        "labchain_remote.DomainEmbedding",
        "labchain_remote.SentimentClassifier",
        "labchain_remote.TextPreprocessor",
    ]


def test_a_trained_pipeline_pickled_on_one_server_serves_on_another(sentiment: dict[str, Any]) -> None:
    assert sentiment["training"]["pickle error"] is None
    assert sentiment["api"]["served trained"] == LABELS


# ---------------------------------------------------------------------------------------------------------
# Version management

TEXT_FILTERS = """
import numpy as np
from labchain import Container
from labchain.base import BaseFilter, XYData

SUFFIX = "{suffix}"


@Container.bind(persist=True)
class Shouter(BaseFilter):
    def predict(self, x: XYData) -> XYData:
        return XYData.mock(np.array([str(text).upper() + SUFFIX for text in x.value]))
"""

# The classes bound first, enable() afterwards: it takes them over.
PUSH_V1 = """
import json, sys
import remoteimport
from text_filters import Shouter
from labchain import Container
labchain_hash = Shouter._hash  # LabChain's own, from its PetClassManager

import remoteimport.integrations.labchain as ri_labchain
ri_labchain.enable(sys.argv[1])
Container.ppif.push_all()
print(json.dumps({"hash": remoteimport.class_hash(Shouter), "_hash": Shouter._hash, "labchain hash": labchain_hash,
                  "status": Container.pcm.check_status(Shouter)}))
"""

# enable() before anything of LabChain is imported.
HASH_ONLY = """
import json, sys
import remoteimport
import remoteimport.integrations.labchain as ri_labchain
ri_labchain.enable(sys.argv[1])
from text_filters import Shouter
print(json.dumps({"hash": remoteimport.class_hash(Shouter), "_hash": Shouter._hash}))
"""

# A module-level constant edited: LabChain's own hash (methods' bytecode) did not see it.
PUSH_V2 = """
import json, sys
import remoteimport.integrations.labchain as ri_labchain
ri_labchain.enable(sys.argv[1])
from labchain import Container
from text_filters import Shouter

before = Container.pcm.check_status(Shouter)
persisted = Container.pcm.persist_class(Shouter)  # stored, `latest` left where it was
latest_after_persist = Container.pcm._get_remote_latest_meta("Shouter")["hash"]
Container.ppif.push_all()
print(json.dumps({"hash": Container.pcm.get_class_hash(Shouter), "before push": before,
                  "persisted": persisted, "latest after persist": latest_after_persist,
                  "after push": Container.pcm.check_status(Shouter),
                  "latest": Container.pcm._get_remote_latest_meta("Shouter")}))
"""

# An instance made before enable(): LabChain's BasePlugin.__new__ has rewritten the class already.
EARLY_INSTANCE = """
import json, sys
from text_filters import Shouter
Shouter()
import remoteimport.integrations.labchain as ri_labchain
from remoteimport.errors import PushError
try:
    ri_labchain.enable(sys.argv[1])
    print(json.dumps(None))
except PushError as exc:
    print(json.dumps(str(exc)))
"""

VERSION_MANAGER = """
import json, sys
import remoteimport.integrations.labchain as ri_labchain
ri_labchain.enable(sys.argv[1])
import numpy as np
from labchain import Container
from labchain.base import XYData

v1 = sys.argv[2]
found = {
    "full hash": Container.ppif.get_version("Shouter", v1),
    "prefix": Container.ppif.get_version("Shouter", v1[:12]),
    "tag": Container.ppif.get_version("Shouter", "stable"),
    "latest": Container.ppif["Shouter"],
}
print(json.dumps({
    "outputs": {how: cls().predict(XYData.mock(np.array(["hi"]))).value.tolist() for how, cls in found.items()},
    "one class": found["full hash"] is found["prefix"] is found["tag"],
    "hashes": {how: Container.pcm.get_class_hash(cls) for how, cls in found.items()},
    "status": {how: Container.pcm.check_status(cls) for how, cls in found.items()},
    "latest meta": Container.pcm._get_remote_latest_meta("Shouter"),
    "nothing": Container.pcm._get_remote_latest_meta("Nothing"),
}))
"""


@pytest.fixture(scope="module")
def versions(python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("labchain_versions")
    laptop = write_files(root / "laptop", {"text_filters.py": TEXT_FILTERS.format(suffix="!")})
    store = str(root / "store")
    with ThreadPoolExecutor(max_workers=3) as pool:  # fresh processes, each its own order of imports
        first = pool.submit(run, python, laptop, PUSH_V1, store)
        second = pool.submit(run, python, laptop, HASH_ONLY, str(root / "another-store"))
        early = pool.submit(run, python, laptop, EARLY_INSTANCE, str(root / "early-store"))
        v1, hash_only, early_instance = first.result(), second.result(), early.result()
    remoteimport.tag("Shouter", v1["hash"], "stable", store=store)
    write_files(laptop, {"text_filters.py": TEXT_FILTERS.format(suffix="?!")})
    v2 = run(python, laptop, PUSH_V2, store)
    delete(laptop)
    manager = run(python, root / "server", VERSION_MANAGER, store, v1["hash"], isolated=True)
    return {"v1": v1, "hash only": hash_only, "early": early_instance, "v2": v2, "server": manager, "store": store}


def test_one_hash_in_two_processes_whether_enable_comes_before_or_after_binding(versions: dict[str, Any]) -> None:
    v1, other = versions["v1"], versions["hash only"]
    assert HEX64.match(v1["hash"]) and v1["labchain hash"] != v1["hash"]  # LabChain's own hash was replaced
    assert v1["_hash"] == v1["hash"] == other["hash"] == other["_hash"]


def test_an_instance_made_before_enable_is_named(versions: dict[str, Any]) -> None:
    message = versions["early"]
    assert message is not None and "Shouter was instantiated before" in message and "enable()" in message


def test_persist_class_stores_without_moving_latest(versions: dict[str, Any]) -> None:
    v1, v2 = versions["v1"], versions["v2"]
    assert v2["persisted"] == v2["hash"] and v2["latest after persist"] == v1["hash"]


def test_check_status_sees_a_module_constant_change(versions: dict[str, Any]) -> None:
    v1, v2 = versions["v1"], versions["v2"]
    assert v1["status"] == "synced"
    assert v2["hash"] != v1["hash"]
    assert (v2["before push"], v2["after push"]) == ("out_of_sync", "synced")
    assert v2["latest"] == {"hash": v2["hash"], "class_name": "Shouter"}


def test_get_version_by_hash_prefix_and_tag(versions: dict[str, Any]) -> None:
    v1, v2, server = versions["v1"]["hash"], versions["v2"]["hash"], versions["server"]
    assert server["outputs"] == {"full hash": ["HI!"], "prefix": ["HI!"], "tag": ["HI!"], "latest": ["HI?!"]}
    assert server["one class"] is True
    assert server["hashes"] == {"full hash": v1, "prefix": v1, "tag": v1, "latest": v2}
    assert server["status"] == {
        "full hash": "out_of_sync",
        "prefix": "out_of_sync",
        "tag": "out_of_sync",
        "latest": "synced",
    }
    assert server["latest meta"] == {"hash": v2, "class_name": "Shouter"} and server["nothing"] is None
    history = remoteimport.versions("Shouter", store=versions["store"])
    assert [(entry.hash, entry.action) for entry in reversed(history)] == [
        (v1, "push"),
        (v1, "tag"),
        (v2, "promote"),  # persist_class
        (v2, "push"),
    ]


# ---------------------------------------------------------------------------------------------------------
# Staging, then production (signed)

PROD_FILTERS = """
import numpy as np
from labchain import Container
from labchain.base import BaseFilter, XYData


@Container.bind(persist=True)
class Scaler(BaseFilter):
    def __init__(self, factor: float = 1.0):
        super().__init__(factor=factor)

    def predict(self, x: XYData) -> XYData:
        return XYData.mock(x.value * self.factor + 1.0)
"""

PROMOTE = """
import json, sys
import remoteimport.integrations.labchain as ri_labchain
STAGING, PRODUCTION, KEY, EXCHANGE = sys.argv[1:5]

ri_labchain.enable(STAGING)  # ENVIRONMENTS['staging']
import numpy as np
from labchain import Container, F3Pipeline
from labchain.base import XYData
from prod_filters import Scaler

pipeline = F3Pipeline(filters=[Scaler(factor=3.0)])
pipeline.fit(XYData.mock(np.arange(4.0)), None)
predictions = pipeline.predict(XYData.mock(np.arange(4.0))).value.tolist()
Container.ppif.push_all()
status = {"staging": Container.pcm.check_status(Scaler)}

ri_labchain.enable(PRODUCTION, signing_key=KEY)  # promote to ENVIRONMENTS['production']
status["production before push"] = Container.pcm.check_status(Scaler)
Container.ppif.push_all()
status["production"] = Container.pcm.check_status(Scaler)
with open(EXCHANGE + "/config.json", "w") as file:
    json.dump(pipeline.item_dump(), file)
print(json.dumps({"hash": Scaler._hash, "status": status, "predictions": predictions}))
"""

PRODUCTION_HOST = """
import json, sys
import remoteimport.integrations.labchain as ri_labchain
PRODUCTION, PUBLIC, EXCHANGE = sys.argv[1:4]
ri_labchain.enable(PRODUCTION, trusted_keys=[PUBLIC])
import numpy as np
from labchain import Container
from labchain.base import BasePlugin, XYData

with open(EXCHANGE + "/config.json") as file:
    pipeline = BasePlugin.build_from_dump(json.load(file), Container.ppif)
pipeline.fit(XYData.mock(np.arange(4.0)), None)
print(json.dumps({"predictions": pipeline.predict(XYData.mock(np.arange(4.0))).value.tolist()}))
"""

REFUSING_HOST = """
import json, sys
import remoteimport.integrations.labchain as ri_labchain
PRODUCTION, STAGING, PUBLIC, OTHER, EXCHANGE = sys.argv[1:6]
from labchain import Container
from labchain.base import BasePlugin

with open(EXCHANGE + "/config.json") as file:
    config = json.load(file)
refused = {}
for label, store, key in (("production, another key", PRODUCTION, OTHER), ("staging, unsigned", STAGING, PUBLIC)):
    ri_labchain.enable(store, trusted_keys=[key])
    try:
        BasePlugin.build_from_dump(config, Container.ppif)
        refused[label] = None
    except Exception as exc:
        refused[label] = [type(exc).__name__, str(exc)]
print(json.dumps(refused))
"""


@pytest.fixture(scope="module")
def staging_production(python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("labchain_staging")
    public = signing.generate_key(root / "keys" / "publisher")
    other = signing.generate_key(root / "keys" / "someone-else")
    laptop = write_files(root / "laptop", {"prod_filters.py": PROD_FILTERS})
    staging, production, exchange = str(root / "staging"), str(root / "production"), root / "exchange"
    exchange.mkdir()
    a = run(python, laptop, PROMOTE, staging, production, str(root / "keys" / "publisher"), str(exchange))
    delete(laptop)
    with ThreadPoolExecutor(max_workers=2) as pool:
        trusted = pool.submit(
            run, python, root / "prod", PRODUCTION_HOST, production, public, str(exchange), isolated=True
        )
        refusing = pool.submit(
            run,
            python,
            root / "elsewhere",
            REFUSING_HOST,
            production,
            staging,
            public,
            other,
            str(exchange),
            isolated=True,
        )
        b, refused = trusted.result(), refusing.result()
    fingerprint = signing.load_public_key(public).fingerprint
    return {
        "a": a,
        "b": b,
        "refused": refused,
        "staging": staging,
        "production": production,
        "fingerprint": fingerprint,
    }


def test_enable_again_switches_stores(staging_production: dict[str, Any]) -> None:
    assert staging_production["a"]["status"] == {
        "staging": "synced",
        "production before push": "untracked",
        "production": "synced",
    }


def test_production_is_signed_and_staging_is_not(staging_production: dict[str, Any]) -> None:
    full = staging_production["a"]["hash"]
    production = Store(staging_production["production"]).read_verified_blob("Scaler", full).header
    staging = Store(staging_production["staging"]).read_verified_blob("Scaler", full).header
    assert production.signature is not None and production.signature["key"] == staging_production["fingerprint"]
    assert staging.signature is None


def test_a_host_trusting_the_key_runs_production(staging_production: dict[str, Any]) -> None:
    assert staging_production["b"]["predictions"] == staging_production["a"]["predictions"] == [1.0, 4.0, 7.0, 10.0]


def test_a_host_trusting_another_key_is_refused(staging_production: dict[str, Any]) -> None:
    refused = staging_production["refused"]
    for label in ("production, another key", "staging, unsigned"):
        assert refused[label] is not None and refused[label][0] == "UntrustedBlobError", (label, refused[label])
        assert "Scaler" in refused[label][1]


# ---------------------------------------------------------------------------------------------------------
# What the integration replaces in LabChain

INTERNALS = """
import json
from remoteimport.integrations import _labchain_internals as internals
from remoteimport.errors import DependencyError

found = {"version": internals.installed_version(), "problems": internals.internals_problems()}
internals.SOURCE_DIGESTS["labchain.base.base_clases:BasePlugin.__new__"] = "0" * 64
found["changed"] = internals.internals_problems()
internals.MANAGER_METHODS["push"] = ("self", "cls", "force")
try:
    internals.check_internals()
except DependencyError as exc:
    found["refused"] = str(exc)
print(json.dumps(found))
"""


def test_what_is_patched_is_what_framework3_1_2_11_has(python: Path, tmp_path: Path) -> None:
    found = run(python, tmp_path / "internals", INTERNALS, isolated=True)
    assert found["version"] == FRAMEWORK3
    assert found["problems"] == [], (
        f"framework3 {found['version']} differs from what remoteimport/integrations/_labchain_internals.py was "
        f"checked against: {found['problems']}"
    )
    [changed] = found["changed"]
    assert changed.startswith("labchain.base.base_clases:BasePlugin.__new__ changed (source sha256 ")
    assert changed.endswith(f", checked: {'0' * 64})")
    assert f"framework3 {FRAMEWORK3} differs" in found["refused"]
    assert "PetClassManager.push takes ('self', 'class_obj'), not ('self', 'cls', 'force')" in found["refused"]


def test_the_venv_shadows_cloudpickle_inside_our_range(python: Path, tmp_path: Path) -> None:
    """framework3 pins cloudpickle 3.1.0: inside remoteimport's declared range; the main interpreter keeps its own."""
    code = "import json, cloudpickle, remoteimport; print(json.dumps([cloudpickle.__version__, remoteimport.__file__]))"
    version, location = run(python, tmp_path / "versions", code, isolated=True)
    assert version == "3.1.0"
    assert Path(location).resolve() == Path(remoteimport.__file__).resolve()  # this checkout, not another


# ---------------------------------------------------------------------------------------------------------
# docs/labchain.md

DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "labchain.md"


def _fenced_blocks(language: str) -> list[str]:
    return fenced_blocks(DOCS_PAGE, language)


def test_the_docs_example_prints_what_the_page_shows(python: Path, tmp_path: Path) -> None:
    example = next(block for block in _fenced_blocks("python") if "def host(" in block)
    shown = _fenced_blocks("")[0]
    script = tmp_path / "labchain_example.py"
    script.write_text(example, encoding="utf-8")
    done = subprocess.run(
        [str(python), str(script)], cwd=tmp_path, env=_environment(), capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, done.stderr[-4000:]
    printed = re.sub(r"@[0-9a-f]{64}", "@<hash>", done.stdout)
    assert printed.splitlines() == shown.strip().splitlines()
