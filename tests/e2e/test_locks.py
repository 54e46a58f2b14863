"""Locks at class or module level travel as fresh, unlocked locks of the same type, and hash by type only.

A lock is this process's synchronisation state: whether it is held at push time cannot mean anything to another
process. ``threading.Lock`` and ``RLock`` hash by their type and are pickled for the push as new locks
(hashing/table.py and capture.py, each in its table); a ``Condition`` is its lock. Event, Semaphore, Queue ... are
plain Python objects over a Condition and travel with their other state (flag, count, items).
"""

from __future__ import annotations

import threading
from pathlib import Path

from support import delete, run_consumer, run_producer, write_files

import remoteimport
from remoteimport import class_hash
from remoteimport.store import Store


def _free_in_another_thread(lock: object) -> bool:
    """True when another thread can take ``lock`` at once (an RLock's owner could take it anyway)."""
    taken: list[bool] = []

    def take() -> None:
        got = lock.acquire(blocking=False)  # type: ignore[attr-defined]
        taken.append(got)
        if got:
            lock.release()  # type: ignore[attr-defined]

    worker = threading.Thread(target=take)
    worker.start()
    worker.join()
    return taken == [True]


class Guarded:
    lock = threading.Lock()
    rlock = threading.RLock()
    ready = threading.Condition(rlock)

    def bump(self, counter: list[int]) -> int:
        with self.lock, self.ready:
            counter.append(1)
            return len(counter)


def test_a_lock_held_at_push_arrives_unlocked_and_does_not_change_the_hash(memory_store: Store) -> None:
    free = class_hash(Guarded)
    with Guarded.lock, Guarded.rlock:
        assert class_hash(Guarded) == free
        full = remoteimport.push(Guarded, store=memory_store)
    assert full == free
    loaded = remoteimport.get_version("Guarded", full, store=memory_store)
    assert loaded is not Guarded
    assert type(loaded.lock) is type(Guarded.lock) and type(loaded.rlock) is type(Guarded.rlock)
    assert loaded.lock is not Guarded.lock and loaded.ready._lock is loaded.rlock  # one lock, shared as before
    with Guarded.lock, Guarded.rlock:  # the producer's locks held again: the loaded ones are others, and free
        assert _free_in_another_thread(loaded.lock) and _free_in_another_thread(loaded.rlock)
        assert loaded().bump([]) == 1
    assert class_hash(loaded) == full


def test_locks_at_module_and_class_level_survive_the_trip(tmp_path: Path) -> None:
    """Pushed while held, source deleted, imported pinned in a fresh interpreter: every lock works there."""
    producer = write_files(
        tmp_path / "producer",
        {
            "guards.py": """
                import queue, threading

                _LOCK = threading.Lock()

                class _ProbeCache:
                    # like urllib3's module-global _HTTP2ProbeCache: an instance holding locks
                    def __init__(self):
                        self._lock = threading.RLock()
                        self._ready = threading.Condition(self._lock)
                        self._cache = {}

                    def put(self, key, value):
                        with self._lock:
                            self._cache[key] = value
                            self._ready.notify_all()

                    def get(self, key):
                        with self._ready:
                            return self._cache.get(key)

                _PROBES = _ProbeCache()

                class Counter:
                    _guard = threading.RLock()
                    _done = threading.Event()
                    _slots = threading.BoundedSemaphore(2)
                    _jobs = queue.Queue()
                    count = 0

                    def bump(self):
                        with _LOCK, self._slots:
                            with self._guard:
                                with self._guard:  # reentrant
                                    type(self).count += 1
                        _PROBES.put("last", type(self).count)
                        self._jobs.put(type(self).count)
                        return type(self).count

                    def state(self):
                        return {
                            "locked": [_LOCK.locked(), self._done.is_set()],
                            "last": _PROBES.get("last"),
                            "shared": _PROBES._ready._lock is _PROBES._lock,
                            "types": [type(_LOCK).__name__, type(self._guard).__name__],
                            "jobs": self._jobs.qsize(),
                        }
            """,
            "producer.py": """
                import json, sys
                import remoteimport
                import guards
                from guards import Counter

                Counter._done.set()
                with guards._LOCK, Counter._guard, guards._PROBES._lock:
                    full = remoteimport.push(Counter, store=sys.argv[1])
                    held = remoteimport.class_hash(Counter)
                print(json.dumps({"hash": full, "held": held, "free": remoteimport.class_hash(Counter)}))
            """,
        },
    )
    store = str(tmp_path / "store")
    pushed = run_producer(producer, store)
    assert pushed["hash"] == pushed["held"] == pushed["free"]
    delete(producer)
    out = run_consumer(
        tmp_path / "consumer",
        store,
        f"""
        import threading
        module = importlib.import_module("labchain_remote.Counter@{pushed["hash"]}")
        Counter = module.Counter
        LOCK = Counter.bump.__globals__["_LOCK"]
        out["rehash"] = remoteimport.class_hash(Counter) == {pushed["hash"]!r}
        out["arrived_free"] = LOCK.acquire(timeout=5) and (LOCK.release() or True)
        threads = [threading.Thread(target=lambda: [Counter().bump() for _ in range(50)]) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        out["count"] = Counter.count
        out["state"] = Counter().state()
        print(json.dumps(out))
        """,
    )
    assert out == {
        "rehash": True,
        "arrived_free": True,
        "count": 200,  # the locks guard the class's counter in four threads
        "state": {"locked": [False, True], "last": 200, "shared": True, "types": ["lock", "RLock"], "jobs": 200},
    }
