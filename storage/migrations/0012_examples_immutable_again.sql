-- Training examples never change (as in 0002), now with prompt_node among the frozen columns. The
-- only allowed changes stay approved -> retracted (undo) and approved_by -> NULL (the teacher's
-- profile was deleted). Deleting rows stays possible: that is how a student's data leaves.
CREATE TRIGGER training_examples_are_immutable
BEFORE UPDATE ON training_examples
WHEN NEW.uid IS NOT OLD.uid
    OR NEW.prompt_json IS NOT OLD.prompt_json
    OR NEW.prompt_node IS NOT OLD.prompt_node
    OR NEW.completion IS NOT OLD.completion
    OR NEW.original_completion IS NOT OLD.original_completion
    OR NEW.mode IS NOT OLD.mode
    OR NEW.topic IS NOT OLD.topic
    OR NEW.grade IS NOT OLD.grade
    OR NEW.student_id IS NOT OLD.student_id
    OR NEW.approved_by_name IS NOT OLD.approved_by_name
    OR NEW.approved_at IS NOT OLD.approved_at
    OR NEW.source IS NOT OLD.source
    OR NEW.source_message_ids IS NOT OLD.source_message_ids
    OR NEW.source_ref IS NOT OLD.source_ref
    OR NEW.content_sha256 IS NOT OLD.content_sha256
    OR NEW.created_at IS NOT OLD.created_at
    OR (NEW.approved_by IS NOT OLD.approved_by AND NEW.approved_by IS NOT NULL)
    OR NOT (NEW.status = OLD.status OR (OLD.status = 'approved' AND NEW.status = 'retracted'))
    OR (OLD.status = 'retracted' AND NEW.retracted_at IS NOT OLD.retracted_at)
BEGIN
    SELECT RAISE(ABORT, 'approved training examples are immutable');
END;
