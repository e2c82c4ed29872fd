-- The avatar's 64x64 thumbnail URL as ProfileUpdated carries it: the media service's stable URL,
-- stored by the profile service with the avatar. Lists show it as it is; the friend service never
-- builds avatar URLs itself. Rows from before this migration have '' until the user's next
-- ProfileUpdated (clients then resolve avatar_file_id with parley.media.v1.MediaService/GetFile).
ALTER TABLE users ADD COLUMN avatar_thumbnail_url text NOT NULL DEFAULT '';
