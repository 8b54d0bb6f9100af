-- "Why this answer?": a full-text index (SQLite FTS5, ranked by BM25) over the approved examples
-- each adapter version trained on, so a reply can be shown the closest of them. The database fills
-- it itself when a round records its examples (adapter_examples rows of the train split) and takes
-- an example out when the example is deleted (a student's data leaving), so the index can never
-- hold text the tables no longer do.
--   question: the student's message (the chat message the example came from, else the last turn
--             of its stored prompt, as imported examples have no chat message)
--   answer:   the approved completion
CREATE VIRTUAL TABLE example_search USING fts5(
    question, answer, version UNINDEXED, example_id UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER example_search_fill AFTER INSERT ON adapter_examples
WHEN NEW.split = 'train'
BEGIN
    INSERT INTO example_search (question, answer, version, example_id)
    SELECT COALESCE(
               (SELECT m.content FROM messages m
                WHERE m.id = json_extract(te.source_message_ids, '$[0]') AND m.role = 'user'),
               (SELECT pm.content FROM prompt_nodes pn JOIN prompt_messages pm ON pm.id = pn.message_id
                WHERE pn.id = te.prompt_node),
               json_extract(te.prompt_json, '$[#-1].content'),
               ''),
           te.completion, NEW.version, te.id
    FROM training_examples te WHERE te.id = NEW.example_id;
END;

CREATE TRIGGER example_search_unlink AFTER DELETE ON adapter_examples
BEGIN
    DELETE FROM example_search WHERE version = OLD.version AND example_id = OLD.example_id;
END;

CREATE TRIGGER example_search_forget AFTER DELETE ON training_examples
BEGIN
    DELETE FROM example_search WHERE example_id = OLD.id;
END;

-- Versions registered before this migration: their examples, indexed the same way.
INSERT INTO example_search (question, answer, version, example_id)
SELECT COALESCE(
           (SELECT m.content FROM messages m
            WHERE m.id = json_extract(te.source_message_ids, '$[0]') AND m.role = 'user'),
           (SELECT pm.content FROM prompt_nodes pn JOIN prompt_messages pm ON pm.id = pn.message_id
            WHERE pn.id = te.prompt_node),
           json_extract(te.prompt_json, '$[#-1].content'),
           ''),
       te.completion, ae.version, te.id
FROM adapter_examples ae JOIN training_examples te ON te.id = ae.example_id
WHERE ae.split = 'train';
