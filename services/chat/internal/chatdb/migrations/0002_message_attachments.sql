-- Attachment metadata kept with each message (issue "Media service on S3").
--
-- The media service is asked about a message's files once, when it is sent (owner, purpose,
-- status, chat); what it said about each — name, content type, size, image dimensions — is
-- stored here in the send's transaction, in the order of attachment_ids, so listings and
-- MessageSent need no remote call for it (a READY file never changes). URLs are short-lived and
-- never stored.
--
-- One element per file: {"file_id", "name", "content_type", "size_bytes", "width", "height"}.
-- attachment_ids stays the list of ids (and its CHECK the limit); messages stored before this
-- migration have '[]' here and are returned with their ids only. A tombstone empties both.
--
-- A constant default makes ADD COLUMN a catalogue change (no table rewrite). The CHECK is added
-- NOT VALID so that it does not scan every message under this migration's exclusive lock: it
-- holds for new and updated rows, and the existing ones all have the default.
ALTER TABLE messages
    ADD COLUMN attachments jsonb NOT NULL DEFAULT '[]',
    ADD CONSTRAINT messages_attachments_is_array CHECK (jsonb_typeof(attachments) = 'array') NOT VALID;
