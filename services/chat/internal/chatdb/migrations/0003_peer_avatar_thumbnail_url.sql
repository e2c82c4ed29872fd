-- A peer's avatar thumbnail URL as ProfileUpdated carries it: the media service's stable 64x64
-- URL, stored by the profile service with the avatar. ListChats and GetChat show it as it is; the
-- chat service never builds avatar URLs itself. Rows from before this migration have '' until the
-- peer's next ProfileUpdated (clients then resolve avatar_file_id with the media service).
-- A constant default makes ADD COLUMN a catalogue change (no table rewrite).
ALTER TABLE peer_profiles ADD COLUMN avatar_thumbnail_url text NOT NULL DEFAULT '';
