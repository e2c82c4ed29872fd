import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import type { Message } from "../gen/parley/chat/v1/chat_pb";
import { FilePurpose, type File as MediaFile } from "../gen/parley/media/v1/media_pb";
import { chat, media, notifications } from "../lib/api";
import { describe, fieldErrors } from "../lib/errors";
import * as store from "../lib/store";
import { precheck, upload } from "../lib/upload";
import { FormError } from "./Field";
import { useStore } from "./hooks";

export function Conversation({ chatId, onClose }: { chatId: string; onClose: () => void }) {
  const c = useStore((s) => s.chats.find((x) => x.chatId === chatId));
  const held = useStore((s) => s.messages[chatId]);
  const typing = useStore((s) => (s.typing[chatId]?.length ?? 0) > 0);
  const me = useStore((s) => s.me);
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<Message | null>(null);
  const [pending, setPending] = useState<MediaFile[]>([]);
  const [progress, setProgress] = useState<number | null>(null);
  const [muted, setMuted] = useState(false);
  const endRef = useRef<HTMLDivElement>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const lastTyping = useRef(0);
  // What was being written when an edit began: back in the composer when the edit ends.
  const draft = useRef("");

  const outbox = store.outboxFor(chatId);

  // What could not be sent comes back to the composer, before anything typed since, with the
  // error: when the send fails, or when the chat is opened again after it failed elsewhere. Not
  // into an edit, which would save it into an older message: it waits until the edit ends.
  useEffect(() => {
    if (editing) return;
    const restore = () => {
      const u = outbox.takeUnsent();
      if (!u) return;
      setText((typed) => [...u.drafts.map((d) => d.text), typed].filter(Boolean).join("\n"));
      setPending((p) => [...u.drafts.flatMap((d) => d.files), ...p]);
      const fe = fieldErrors(u.error, ["text", "attachment_file_ids"]);
      setError(fe.fields.text ?? fe.fields.attachment_file_ids ?? fe.form);
    };
    restore();
    return outbox.subscribe(restore);
  }, [outbox, editing]);

  const count = held?.list.length ?? 0;
  useEffect(() => {
    endRef.current?.scrollIntoView({ block: "end" });
  }, [count]);

  useEffect(() => {
    notifications
      .getPreferences({})
      .then((r) => setMuted(r.preferences?.mutedChats.some((m) => m.chatId === chatId) ?? false))
      .catch(() => undefined);
  }, [chatId]);

  if (!c) return <p className="placeholder">Loading chat…</p>;
  const name = c.peer?.nickname || "Deleted account";

  async function send(e: FormEvent) {
    e.preventDefault();
    setError(null);
    const t = text.trim();
    if (!editing) {
      // Into the outbox, and the composer is free for the next message at once.
      if (!t && pending.length === 0) return;
      outbox.submit(t, pending);
      setText("");
      setPending([]);
      inputRef.current?.focus();
      return;
    }
    try {
      const r = await chat.editMessage({ chatId, messageId: editing.messageId, text: t });
      if (r.message) store.addOwnMessage(r.message);
      endEdit();
      inputRef.current?.focus();
    } catch (err) {
      const fe = fieldErrors(err, ["text"]);
      setError(fe.fields.text ?? fe.form);
    }
  }

  function onKey(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      e.currentTarget.form?.requestSubmit();
    } else if (e.key === "Escape" && editing) {
      endEdit();
    }
  }

  function startEdit(m: Message) {
    if (!editing) draft.current = text;
    setEditing(m);
    setText(m.text);
    inputRef.current?.focus();
  }

  function endEdit() {
    setEditing(null);
    setText(draft.current);
    draft.current = "";
  }

  function onChange(v: string) {
    setText(v);
    const now = Date.now();
    if (now - lastTyping.current > 2000) {
      lastTyping.current = now;
      store.sendTyping(chatId);
    }
  }

  async function attach(files: FileList | null) {
    const f = files?.[0];
    if (!f) return;
    setError(null);
    const pre = precheck(f, FilePurpose.ATTACHMENT);
    if (pre) {
      setError(pre);
      return;
    }
    try {
      setProgress(0);
      const done = await upload(f, FilePurpose.ATTACHMENT, chatId, setProgress);
      setPending((p) => [...p, done]);
    } catch (err) {
      setError(describe(err));
    } finally {
      setProgress(null);
    }
  }

  async function remove(m: Message) {
    setError(null);
    try {
      const r = await chat.deleteMessage({ chatId, messageId: m.messageId });
      if (r.message) store.addOwnMessage(r.message);
    } catch (err) {
      setError(describe(err));
    }
  }

  async function toggleMute() {
    try {
      if (muted) await notifications.unmuteChat({ chatId });
      else await notifications.muteChat({ chatId });
      setMuted(!muted);
    } catch (err) {
      setError(describe(err));
    }
  }

  return (
    <section className="conversation" aria-label={`Conversation with ${name}`}>
      <header>
        <button className="back" onClick={onClose} aria-label="Back to chats">
          ←
        </button>
        <h2>{name}</h2>
        <button onClick={() => void toggleMute()} aria-pressed={muted}>
          {muted ? "Unmute" : "Mute"}
        </button>
      </header>
      <ol className="messages" aria-label="Messages" data-testid="messages">
        {held && held.list.length > 0 && held.list[0].seq > 1n && (
          <li>
            <button onClick={() => void store.loadOlder(chatId)}>Load older messages</button>
          </li>
        )}
        {held?.list.map((m) => (
          <MessageItem key={m.seq.toString()} m={m} mine={m.senderId === me?.userId} readByPeer={m.seq <= c.peerReadSeq} onEdit={() => startEdit(m)} onDelete={() => void remove(m)} />
        ))}
      </ol>
      <div ref={endRef} />
      <p className="typing" aria-live="polite" data-testid="typing">
        {typing ? `${name} is typing…` : ""}
      </p>
      {c.canSend ? (
        <form className="composer" onSubmit={send}>
          {pending.length > 0 && (
            <ul className="pending" aria-label="Attachments to send">
              {pending.map((f) => (
                <li key={f.fileId}>
                  {f.name}{" "}
                  <button type="button" onClick={() => { setPending((p) => p.filter((x) => x.fileId !== f.fileId)); void media.deleteFile({ fileId: f.fileId }).catch(() => undefined); }} aria-label={`Remove ${f.name}`}>
                    ×
                  </button>
                </li>
              ))}
            </ul>
          )}
          {progress !== null && <progress max={1} value={progress} aria-label="Upload progress" />}
          <label htmlFor="composer-text" className="sr-only">
            {editing ? "Edit your message" : "Message"}
          </label>
          <textarea id="composer-text" ref={inputRef} rows={1} value={text} onChange={(e) => onChange(e.target.value)} onKeyDown={onKey} placeholder={editing ? "Edit message (Esc cancels)" : "Message"} />
          <label className="attach">
            <span className="sr-only">Attach a file</span>
            <span aria-hidden="true">Attach</span>
            <input type="file" onChange={(e) => { void attach(e.target.files); e.target.value = ""; }} />
          </label>
          <button type="submit" className="primary">
            {editing ? "Save" : "Send"}
          </button>
          <FormError error={error} />
        </form>
      ) : (
        <p>You can no longer send messages in this chat.</p>
      )}
    </section>
  );
}

function MessageItem({ m, mine, readByPeer, onEdit, onDelete }: { m: Message; mine: boolean; readByPeer: boolean; onEdit: () => void; onDelete: () => void }) {
  return (
    <li className={"message" + (mine ? " mine" : "")} data-testid="message" data-seq={m.seq.toString()}>
      {m.deleted ? (
        <em>Message deleted</em>
      ) : (
        <>
          {m.text && <p className="text">{m.text}</p>}
          {m.attachments.map((a) => (
            <div className="attachment" key={a.fileId}>
              {a.thumbnailUrl ? <img src={a.thumbnailUrl} alt={a.name} width={a.width ? Math.min(a.width, 256) : undefined} /> : null}
              {a.url ? (
                <a href={a.url} download={a.name}>
                  Download {a.name}
                </a>
              ) : (
                <span>{a.name}</span>
              )}
            </div>
          ))}
        </>
      )}
      <span className="meta">
        {store.formatTime(m.sentAt)}
        {m.editedAt && !m.deleted ? " · edited" : ""}
        {mine && !m.deleted ? (readByPeer ? " · Read" : " · Sent") : ""}
      </span>
      {mine && !m.deleted && (
        <span className="actions">
          <button onClick={onEdit} aria-label="Edit message">
            Edit
          </button>
          <button onClick={onDelete} aria-label="Delete message">
            Delete
          </button>
        </span>
      )}
    </li>
  );
}
