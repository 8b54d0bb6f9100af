"""Prompts stored once and shared: each distinct message once, each prompt a chain of nodes.

    prompt_messages   one row per distinct (role, content)
    prompt_nodes      one row per distinct prefix: (parent node, message); a prompt is its last node

Replies of one long session are answered from prompts that grow by a turn or two each time; stored
whole, 3,000 approvals from one session wrote a 475 MB database. As chains, a snapshot adds only
the nodes its prompt does not share with one already stored (the new turns), and a prompt recorded
for a reply and the training example approved from it are the same node.

A node is keyed by a hash of its whole prefix (`prefix_key`), so the longest stored prefix of a new
prompt is found without reading any chain. Nodes and messages never change (triggers refuse
updates); `collect_garbage` removes those no snapshot or recorded prompt uses any more, so a
deleted chat or student leaves no text behind.

Everything here works on a plain sqlite3 connection inside the caller's transaction (migrations
use it before any `Database` wrapper exists).
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence

Message = Mapping[str, str]
_ROOT_KEY = b"tutorloop-prompt"


def message_digest(role: str, content: str) -> bytes:
    return hashlib.sha256(f"{role}\x00{content}".encode("utf-8", "surrogatepass")).digest()


def prefix_key(parent_key: bytes, digest: bytes) -> bytes:
    """The key of a prefix: its parent's key and its last message, 16 bytes (collisions at 2**-64
    after four billion nodes)."""
    return hashlib.sha256(parent_key + digest).digest()[:16]


class PromptWriter:
    """Stores prompts as chains on `conn` (inside the caller's transaction). One writer per batch of
    snapshots: it remembers the last prompt, so a bulk approval of a long session hashes and looks
    up only the turns each prompt adds."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._digests: dict[tuple[str, str], bytes] = {}
        self._last: list[tuple[str, str]] = []
        self._last_keys: list[bytes] = []
        self._last_nodes: list[int] = []

    def store(self, messages: Sequence[Message]) -> int:
        """The node id of `messages` (at least one), creating the nodes it does not share yet."""
        if not messages:
            raise ValueError("a stored prompt has at least one message")
        pairs = [(m["role"], m["content"]) for m in messages]
        shared = _common_prefix(self._last, pairs)
        keys, nodes = self._last_keys[:shared], self._last_nodes[:shared]
        for role, content in pairs[shared:]:
            digest = self._digests.get((role, content))
            if digest is None:
                digest = self._digests[(role, content)] = message_digest(role, content)
            keys.append(prefix_key(keys[-1] if keys else _ROOT_KEY, digest))
        # Stored prefixes form a chain, so the stored part is a prefix of the new ones: find its end.
        low, high = shared, len(pairs)
        while low < high:
            middle = (low + high) // 2
            if self._node_of(keys[middle]) is not None:
                low = middle + 1
            else:
                high = middle
        for index in range(shared, low):
            nodes.append(self._node_of(keys[index]))  # type: ignore[arg-type]
        for index in range(low, len(pairs)):
            role, content = pairs[index]
            message_id = self._message_id(role, content)
            parent = nodes[-1] if nodes else None
            cursor = self.conn.execute("INSERT INTO prompt_nodes (key, parent_id, message_id) VALUES (?, ?, ?)",
                                       (keys[index], parent, message_id))
            nodes.append(cursor.lastrowid)  # type: ignore[arg-type]
        self._last, self._last_keys, self._last_nodes = pairs, keys, nodes
        return nodes[-1]

    def _node_of(self, key: bytes) -> int | None:
        row = self.conn.execute("SELECT id FROM prompt_nodes WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _message_id(self, role: str, content: str) -> int:
        digest = self._digests.get((role, content)) or message_digest(role, content)
        row = self.conn.execute("SELECT id FROM prompt_messages WHERE digest = ?", (digest,)).fetchone()
        if row:
            return row[0]
        return self.conn.execute("INSERT INTO prompt_messages (digest, role, content) VALUES (?, ?, ?)",
                                 (digest, role, content)).lastrowid  # type: ignore[return-value]


def _common_prefix(old: list[tuple[str, str]], new: list[tuple[str, str]]) -> int:
    """Length of the longest common prefix, by bisection over C-level list comparisons."""
    low, high = 0, min(len(old), len(new))
    while low < high:
        middle = (low + high + 1) // 2
        if old[:middle] == new[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def load_prompts(conn: sqlite3.Connection, node_ids: Iterable[int]) -> dict[int, tuple[dict[str, str], ...]]:
    """The prompt (messages, oldest first) of every node in `node_ids`. Message dicts are shared
    between the prompts returned: copy one before changing it."""
    wanted = sorted(set(node_ids))
    if not wanted:
        return {}
    rows = conn.execute(
        "WITH RECURSIVE chain(id) AS (SELECT value FROM json_each(?) UNION "
        "SELECT n.parent_id FROM prompt_nodes n JOIN chain c ON n.id = c.id WHERE n.parent_id IS NOT NULL) "
        "SELECT n.id, n.parent_id, n.message_id, m.role, m.content FROM chain c "
        "JOIN prompt_nodes n ON n.id = c.id JOIN prompt_messages m ON m.id = n.message_id",
        (json.dumps(wanted),)).fetchall()
    parent: dict[int, int | None] = {}
    message_of: dict[int, dict[str, str]] = {}
    by_message: dict[int, dict[str, str]] = {}
    for node, parent_id, message_id, role, content in rows:
        parent[node] = parent_id
        message_of[node] = by_message.setdefault(message_id, {"role": role, "content": content})
    # A prompt is its parent's prompt plus one message. Prefixes that end where a requested prompt
    # branches off are kept, so a long session's prompts are walked once, not once per snapshot.
    memo: dict[int, tuple[dict[str, str], ...]] = {}
    result: dict[int, tuple[dict[str, str], ...]] = {}
    for leaf in wanted:
        if leaf not in parent:
            raise KeyError(f"prompt node {leaf} is missing")
        collected: list[dict[str, str]] = []
        node: int | None = leaf
        while node is not None and node not in memo:
            collected.append(message_of[node])
            node = parent[node]
        collected.reverse()
        prompt = (memo[node] if node is not None else ()) + tuple(collected)
        result[leaf] = prompt
        if parent[leaf] is not None:
            memo[parent[leaf]] = prompt[:-1]  # type: ignore[index]
    return result


def collect_garbage(conn: sqlite3.Connection) -> int:
    """Delete nodes and messages no training example or recorded reply prompt uses (after a chat,
    a student or a recorded prompt was deleted); returns how many nodes went."""
    removed = conn.execute(
        "WITH RECURSIVE live(id) AS ("
        " SELECT prompt_node FROM training_examples WHERE prompt_node IS NOT NULL"
        " UNION SELECT prompt_node FROM reply_prompts WHERE prompt_node IS NOT NULL"
        " UNION SELECT n.parent_id FROM prompt_nodes n JOIN live ON n.id = live.id WHERE n.parent_id IS NOT NULL) "
        "DELETE FROM prompt_nodes WHERE id NOT IN (SELECT id FROM live)").rowcount
    if removed:
        conn.execute("DELETE FROM prompt_messages WHERE id NOT IN (SELECT message_id FROM prompt_nodes)")
    return removed
