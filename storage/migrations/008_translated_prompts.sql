-- A prompt the operator's translator put into English: `prompt` is the English sent to the
-- provider, `original_prompt` the user's own words (shown on the card beside it). NULL: the user
-- wrote in English.
ALTER TABLE drafts ADD COLUMN original_prompt TEXT;
