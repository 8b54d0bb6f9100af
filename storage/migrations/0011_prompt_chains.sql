-- Prompts are stored once and shared (storage.prompt_store): each distinct message once, each prompt
-- a chain of prefix nodes. A training example or a recorded reply prompt names its last node
-- (prompt_node) and leaves prompt_json empty. The Python step moves existing prompts into chains,
-- checking each one reads back identical, and recomputes content_sha256 (now the prompt's chain
-- digest with the completion, storage.prompt_store.content_hash) of examples and imported
-- exchanges, with the immutability trigger lifted only for that
-- (0012 restores it).
CREATE TABLE prompt_messages (
    id      INTEGER PRIMARY KEY,
    digest  BLOB NOT NULL UNIQUE,                    -- sha256(role NUL content)
    role    TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content TEXT NOT NULL
);

CREATE TABLE prompt_nodes (
    id         INTEGER PRIMARY KEY,
    key        BLOB NOT NULL UNIQUE,                 -- first 16 bytes of the whole prefix's digest (prompt_store.extend_digest)
    parent_id  INTEGER REFERENCES prompt_nodes(id),  -- NULL: the first message
    message_id INTEGER NOT NULL REFERENCES prompt_messages(id)
);
CREATE INDEX prompt_nodes_by_parent ON prompt_nodes(parent_id);
CREATE INDEX prompt_nodes_by_message ON prompt_nodes(message_id);

CREATE TRIGGER prompt_messages_are_immutable BEFORE UPDATE ON prompt_messages
BEGIN
    SELECT RAISE(ABORT, 'stored prompt messages are immutable');
END;
CREATE TRIGGER prompt_nodes_are_immutable BEFORE UPDATE ON prompt_nodes
BEGIN
    SELECT RAISE(ABORT, 'stored prompt nodes are immutable');
END;

ALTER TABLE training_examples ADD COLUMN prompt_node INTEGER REFERENCES prompt_nodes(id);
ALTER TABLE reply_prompts ADD COLUMN prompt_node INTEGER REFERENCES prompt_nodes(id);
CREATE INDEX training_examples_by_prompt ON training_examples(prompt_node);
CREATE INDEX reply_prompts_by_prompt ON reply_prompts(prompt_node);

-- Lifted while the step converts existing rows; 0012 puts it back, covering prompt_node too.
DROP TRIGGER training_examples_are_immutable;
