"""Prompts stored once and shared: each distinct message once, each prompt a chain of nodes.

    prompt_messages   one row per distinct (role, content)
    prompt_nodes      one row per distinct prefix: (parent node, message); a prompt is its last node

Replies of one long session are answered from prompts that grow by a turn or two each time; stored
whole, 3,000 approvals from one session wrote a 475 MB database. As chains, a snapshot adds only
the nodes its prompt does not share with one already stored (the new turns), and a prompt recorded
for a reply and the training example approved from it are the same node.

A node is keyed by a hash of its whole prefix (`extend_digest`), so the longest stored prefix of a
new prompt is found without reading any chain; the same chain digest identifies an exchange's
prompt in its content hash (`content_hash`), so a snapshot's hash costs only its new turns too. Nodes and messages never change (triggers refuse
updates); `collect_garbage` removes those no snapshot or recorded prompt uses any more, so a
deleted chat or student leaves no text behind.

Everything here works on a plain sqlite3 connection inside the caller's transaction (migrations
use it before any `Database` wrapper exists).
"""
from __future__ import annotations

import hashlib
import json
import operator
import sqlite3
from collections.abc import Iterable, Mapping, Sequence

Message = Mapping[str, str]
Pair = tuple[str, str]
_ROOT = hashlib.sha256(b"tutorloop-prompt").digest()
pair_of = operator.itemgetter("role", "content")   # C-level: a long prompt's pairs without a Python loop


def message_digest(role: str, content: str) -> bytes:
    return hashlib.sha256(f"{role}\x00{content}".encode("utf-8", "surrogatepass")).digest()


def extend_digest(parent: bytes, digest: bytes) -> bytes:
    """The digest of a prefix: its parent's and its last message's. A node's key is the first 16
    bytes (collisions at 2**-64 after four billion nodes)."""
    return hashlib.sha256(parent + digest).digest()


def chain_digest(pairs: Iterable[Pair]) -> bytes:
    """The digest of a whole prompt, as its chain of prefixes builds it."""
    digest = _ROOT
    for role, content in pairs:
        digest = extend_digest(digest, message_digest(role, content))
    return digest


def content_hash(prompt: Sequence[Message], completion: str) -> str:
    """What identifies an exchange (duplicate imports and approvals): its prompt's chain digest and
    the completion. Total on any text (a lone surrogate is hashed, not raised on)."""
    return content_hash_of(chain_digest(map(pair_of, prompt)), completion)


def content_hash_of(prompt_digest: bytes, completion: str) -> str:
    return hashlib.sha256(b"tutorloop-content-v2\x00" + prompt_digest +
                          completion.encode("utf-8", "surrogatepass")).hexdigest()


def common_prefix(old: Sequence[Pair], new: Sequence[Pair]) -> int:
    """Length of the longest common prefix. Consecutive snapshots of one session differ only in
    their last turns, so the search steps back from the end (1, 2, 4, ... messages), then bisects;
    each probe is one C-level list comparison."""
    old, new = list(old), list(new)
    limit = min(len(old), len(new))
    step, high = 1, limit
    while high > 0 and old[:high] != new[:high]:
        high, step = max(0, limit - step), step * 2
    low = high                          # a common prefix
    high = min(limit, low + step // 2)  # the last probe that failed (or the limit)
    while low < high:
        middle = (low + high + 1) // 2
        if old[:middle] == new[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


class PromptWriter:
    """Stores prompts as chains on `conn` (inside the caller's transaction). One writer per batch of
    snapshots: it remembers the last prompt, so a bulk approval of a long session hashes and looks
    up only the turns each prompt adds."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._last: list[Pair] = []
        self._last_digests: list[bytes] = []
        self._last_nodes: list[int] = []
        self._message_ids: dict[bytes, int] = {}    # message digest -> prompt_messages.id, this batch

    def store(self, pairs: Sequence[Pair]) -> tuple[int, bytes]:
        """The node id of the prompt given as (role, content) pairs (at least one) and its chain
        digest, creating the nodes it does not share yet."""
        pairs = list(pairs)
        if not pairs:
            raise ValueError("a stored prompt has at least one message")
        shared = common_prefix(self._last, pairs)
        digests, nodes = self._last_digests[:shared], self._last_nodes[:shared]
        messages = [message_digest(role, content) for role, content in pairs[shared:]]
        for message in messages:
            digests.append(extend_digest(digests[-1] if digests else _ROOT, message))
        # Stored prefixes form a chain, so the stored part is a prefix of the new ones: find its end.
        low, high = shared, len(pairs)
        while low < high:
            middle = (low + high) // 2
            if self._node_of(digests[middle]) is not None:
                low = middle + 1
            else:
                high = middle
        for index in range(shared, low):
            nodes.append(self._node_of(digests[index]))  # type: ignore[arg-type]
        for index in range(low, len(pairs)):
            role, content = pairs[index]
            message_id = self._message_id(messages[index - shared], role, content)
            parent = nodes[-1] if nodes else None
            cursor = self.conn.execute("INSERT INTO prompt_nodes (key, parent_id, message_id) VALUES (?, ?, ?)",
                                       (digests[index][:16], parent, message_id))
            nodes.append(cursor.lastrowid)  # type: ignore[arg-type]
        self._last, self._last_digests, self._last_nodes = pairs, digests, nodes
        return nodes[-1], digests[-1]

    def _node_of(self, digest: bytes) -> int | None:
        row = self.conn.execute("SELECT id FROM prompt_nodes WHERE key = ?", (digest[:16],)).fetchone()
        return row[0] if row else None

    def _message_id(self, digest: bytes, role: str, content: str) -> int:
        if (known := self._message_ids.get(digest)) is not None:
            return known
        row = self.conn.execute("SELECT id FROM prompt_messages WHERE digest = ?", (digest,)).fetchone()
        if row:
            message_id = row[0]
        else:
            message_id = self.conn.execute("INSERT INTO prompt_messages (digest, role, content) VALUES (?, ?, ?)",
                                           (digest, role, content)).lastrowid
        self._message_ids[digest] = message_id  # type: ignore[assignment]
        return message_id  # type: ignore[return-value]


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
