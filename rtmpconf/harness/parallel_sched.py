"""The xdist scheduler of ``-j N`` runs (harness/parallel.py).

* One case at a time per worker (plus the one it holds, see below), handed out in the workers'
  collection order (slow cases first): the slow cases spread over the workers and a worker that
  finishes early takes the next case, so the run ends when the work does.
* The cases that need the whole target are held back and run alone at the end. xdist hands a worker
  its next case only together with the one after it (a worker learns what to tear down from the
  next item), so "alone" is arranged by what is sent, not when: the exclusive cases go to one worker
  only once every other worker has finished all its cases and exited.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from xdist.scheduler import LoadScheduling

#: Cases a worker holds: the one it runs and the next (which it needs to start the first).
PER_WORKER = 2


class ExclusiveLastScheduling(LoadScheduling):
    """Fine-grained load balancing; the exclusive cases last, alone, on one worker."""

    def __init__(self, config: Any, log: Any, schedule_file: Path) -> None:
        super().__init__(config, log)
        self.schedule_file = schedule_file
        self.exclusive: list[int] = []  #: collection indices still to run alone
        self.exclusive_node: Any = None  #: the worker that runs them

    def schedule(self) -> None:
        if self.collection is not None:  # a worker was added later
            for node in self.nodes:
                self.check_schedule(node)
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = next(iter(self.node2collection.values()))
        exclusive_ids = self._exclusive_ids()
        self.exclusive = [i for i, nodeid in enumerate(self.collection) if nodeid in exclusive_ids]
        held = set(self.exclusive)
        self.pending[:] = [i for i in range(len(self.collection)) if i not in held]
        nodes = self.nodes
        for _ in range(PER_WORKER):  # round robin: the first (slow) cases land on different workers
            for node in nodes:
                if self.pending:
                    self._send_tests(node, 1)
        for node in nodes:
            self.check_schedule(node)

    def _exclusive_ids(self) -> set[str]:
        try:
            return set(json.loads(self.schedule_file.read_text()).get("exclusive", []))
        except (OSError, ValueError):
            return set()

    @property
    def tests_finished(self) -> bool:
        return not self.exclusive and super().tests_finished

    @property
    def has_pending(self) -> bool:
        return bool(self.exclusive) or super().has_pending

    def check_schedule(self, node: Any, duration: float = 0) -> None:
        if node.shutting_down:
            return
        if self.pending:
            need = PER_WORKER - len(self.node2pending[node])
            if need > 0:
                self._send_tests(node, need)
            return
        if not self.exclusive:
            node.shutdown()
            return
        if self.exclusive_node is None:
            # The first worker to run short keeps going; the others finish what they hold and exit.
            self.exclusive_node = node
            for other in self.nodes:
                if other is not node and not other.shutting_down:
                    other.shutdown()
        if node is self.exclusive_node:
            self._maybe_send_exclusive()
        else:
            node.shutdown()

    def _maybe_send_exclusive(self) -> None:
        node = self.exclusive_node
        if node is None or not self.exclusive:
            return
        if any(n is not node for n in self.node2pending):
            return  # wait until every other worker has exited (remove_node)
        self.node2pending[node].extend(self.exclusive)
        node.send_runtest_some(self.exclusive)
        self.exclusive = []
        node.shutdown()

    def remove_node(self, node: Any) -> str | None:
        crashitem = super().remove_node(node)
        if node is self.exclusive_node:
            # It died before the exclusive cases ran: another worker takes them.
            self.exclusive_node = None
            for other in self.nodes:
                if not other.shutting_down:
                    self.check_schedule(other)
                    break
        else:
            self._maybe_send_exclusive()
        return crashitem
