-- Per-app recording: the formats recorded for every stream of the app, comma-separated (`mp4`, `flv`,
-- `flv,mp4`); empty means no automatic recording. Kept as text so both backends decode it the same.
ALTER TABLE apps ADD COLUMN record TEXT NOT NULL DEFAULT '';
