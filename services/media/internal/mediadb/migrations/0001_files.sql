-- Files: metadata of uploaded files; their bytes are in object storage under keys made from
-- file_id alone (see internal/media/keys.go).
CREATE TABLE files (
    file_id            uuid        PRIMARY KEY,
    owner_id           uuid        NOT NULL,
    purpose            text        NOT NULL CHECK (purpose IN ('avatar', 'attachment')),
    status             text        NOT NULL CHECK (status IN ('pending', 'ready', 'rejected', 'deleted')),
    name               text        NOT NULL,
    -- What CreateUpload was told; the form pins both.
    declared_type      text        NOT NULL,
    declared_size      bigint      NOT NULL CHECK (declared_size > 0),
    -- The stored file once ready (after re-encoding, for images).
    content_type       text        NOT NULL DEFAULT '',
    size_bytes         bigint      NOT NULL DEFAULT 0,
    width              integer     NOT NULL DEFAULT 0,
    height             integer     NOT NULL DEFAULT 0,
    -- Content type of the 64 and 256 px thumbnails; '' when there are none.
    thumb_type         text        NOT NULL DEFAULT '',
    chat_id            uuid        CHECK ((purpose = 'attachment') = (chat_id IS NOT NULL)),
    rejection_reason   text        NOT NULL DEFAULT '',
    rejection_message  text        NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL,
    -- When the upload form stops working; a pending file is discarded after it.
    upload_expires_at  timestamptz NOT NULL,
    ready_at           timestamptz,
    rejected_at        timestamptz,
    deleted_at         timestamptz,
    -- True once the janitor has cleared the upload key for good (after the form expired).
    upload_swept       boolean     NOT NULL DEFAULT false
);

-- Quota: one owner's ready and pending files.
CREATE INDEX files_owner_active_idx ON files (owner_id) WHERE status IN ('pending', 'ready');
-- Janitor: expired pending uploads, and upload keys to clear once more after the form expired.
CREATE INDEX files_unswept_idx ON files (upload_expires_at) WHERE NOT upload_swept;
-- Janitor: deleted files whose bytes are to be removed.
CREATE INDEX files_deleted_idx ON files (deleted_at) WHERE status = 'deleted';
