-- A first-frame image the user sent as a photo or a file (issue 14): kept in the media store like
-- an uploaded video, and held by the draft, then by its task, as `media_token` holds the video.
ALTER TABLE drafts ADD COLUMN first_frame_media_token TEXT;
ALTER TABLE tasks ADD COLUMN first_frame_media_token TEXT;
