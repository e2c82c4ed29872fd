-- message_sent_tail (0004) again, in PL/pgSQL: as a SQL function with a FROM clause it was not
-- inlined and was planned anew on every call, which cost about a millisecond of the database's
-- time on every send (docs/performance.md). Same encoding, same results (chatdb's tests).
CREATE OR REPLACE FUNCTION message_sent_tail(seq bigint, recipient_id uuid, sent_at timestamptz) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    micros bigint := floor(extract(epoch FROM sent_at) * 1000000)::bigint;
    ts     bytea  := '\x08'::bytea || pb_varint(floor(micros / 1000000.0)::bigint);
BEGIN
    IF micros % 1000000 <> 0 THEN
        ts := ts || '\x10'::bytea || pb_varint((micros % 1000000) * 1000);
    END IF;
    RETURN '\x18'::bytea || pb_varint(seq)
        || '\x2a24'::bytea || convert_to(recipient_id::text, 'UTF8')
        || '\x42'::bytea || pb_varint(length(ts)) || ts;
END
$$;
