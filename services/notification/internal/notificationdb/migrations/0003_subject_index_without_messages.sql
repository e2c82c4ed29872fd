-- Marking a friend request's notification read finds it by subject (MarkSubjectRead). Collapsed
-- notifications — a chat's MESSAGE notification, replaced with every new message — are never
-- looked up that way, yet each replacement wrote an entry into this index.
DROP INDEX notifications_subject;
CREATE INDEX notifications_subject ON notifications (user_id, kind, subject_id)
    WHERE read_at IS NULL AND collapse_key IS NULL;
