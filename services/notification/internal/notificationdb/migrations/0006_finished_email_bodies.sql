-- Finished email deliveries keep no bodies (FinishDelivery empties them from now on): they may
-- hold password-reset and verification links, whose tokens auth keeps only hashed. Rows finished
-- before that change lose theirs here rather than at the 30-day clean-up.
UPDATE email_deliveries SET text_body = '', html_body = ''
WHERE state IN ('sent', 'failed') AND (text_body <> '' OR html_body <> '');
