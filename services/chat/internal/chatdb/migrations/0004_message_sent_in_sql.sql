-- The send path writes a message and its MessageSent event in one statement (send.go), so a send
-- costs one round trip to the database and holds the chat's lock only while that statement runs.
-- The event's payload is built in Go before the database hands out the seq and the time, and
-- these functions append the three fields only the statement knows — seq (3), recipient_id (5),
-- sent_at (8) — in protobuf's wire format. Protobuf reads fields in any order, so the payload
-- decodes exactly as if the message had carried them (chatdb's tests compare it with the Go
-- encoding). Nothing else uses them; they change only with the MessageSent contract.

-- pb_varint is a non-negative integer as a protobuf varint: 7 bits a byte, low bits first, the
-- high bit set on every byte but the last.
CREATE FUNCTION pb_varint(v bigint) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    b bytea := '\x'::bytea;
BEGIN
    IF v < 0 THEN
        RAISE EXCEPTION 'pb_varint: % is negative', v;
    END IF;
    WHILE v >= 128 LOOP
        b := b || set_byte('\x00'::bytea, 0, ((v & 127) | 128)::int);
        v := v >> 7;
    END LOOP;
    RETURN b || set_byte('\x00'::bytea, 0, v::int);
END
$$;

-- message_sent_tail encodes MessageSent's seq = 3 (varint, tag 0x18), recipient_id = 5 (a UUID's
-- 36 characters, tag 0x2a, length 0x24) and sent_at = 8 (a google.protobuf.Timestamp: seconds = 1,
-- nanos = 2 when not 0; tag 0x42 and its length).
CREATE FUNCTION message_sent_tail(seq bigint, recipient_id uuid, sent_at timestamptz) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT '\x18'::bytea || pb_varint(seq)
        || '\x2a24'::bytea || convert_to(recipient_id::text, 'UTF8')
        || '\x42'::bytea || pb_varint(length(ts)) || ts
    FROM (
        SELECT '\x08'::bytea || pb_varint(floor(extract(epoch FROM sent_at))::bigint)
            || CASE WHEN micros = 0 THEN '\x'::bytea ELSE '\x10'::bytea || pb_varint(micros * 1000) END AS ts
        FROM (SELECT (floor(extract(epoch FROM sent_at) * 1000000)::bigint % 1000000) AS micros) m
    ) t
$$;
