import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import type { Message } from "../gen/parley/chat/v1/chat_pb";
import { FilePurpose } from "../gen/parley/media/v1/media_pb";
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
  // What is written for a new message is the store's, so it outlives this screen (another chat
  // opened meanwhile, an upload finishing after it closed); an edit's text is this screen's only.
  const composing = useStore((s) => store.composingIn(s, chatId));
  const sending = useStore((s) => s.sending[chatId]);
  const [editing, setEditing] = useState<Message | null>(null);
  const [editText, setEditText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [progress, setProgress] = useState<number | null>(null);
  const [muted, setMuted] = useState(false);
  const endRef = useRef<HTMLDivElement>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const lastTyping = useRef(0);

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
  // An edit changes an old message's text only: the new message's text and attachments wait,
  // out of sight, until it ends.
  const text = editing ? editText : composing.text;

  async function send(e: FormEvent) {
    e.preventDefault();
    setError(null);
    if (!editing) {
      // Into the chat's outbox, and the composer is free for the next message at once; what
      // cannot be sent comes back into it (store.outboxFor).
      if (store.submitComposing(chatId)) inputRef.current?.focus();
      return;
    }
    try {
      const r = await chat.editMessage({ chatId, messageId: editing.messageId, text: editText.trim() });
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
    setEditing(m);
    setEditText(m.text);
    inputRef.current?.focus();
  }

  function endEdit() {
    setEditing(null);
    setEditText("");
  }

  function onChange(v: string) {
    if (editing) setEditText(v);
    else store.setComposingText(chatId, v);
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
      store.addComposingFile(chatId, done);
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
        {sending?.messages
          // One whose own frame came before its send's answer is shown already.
          .filter((d) => !held?.list.some((m) => m.clientMsgId === d.clientMsgId))
          .map((d) => (
            <li key={d.clientMsgId} className="message mine sending" data-testid="sending">
              {d.text && <p className="text">{d.text}</p>}
              {d.files.map((f) => (
                <div className="attachment" key={f.fileId}>
                  <span>{f.name}</span>
                </div>
              ))}
              <span className="meta">
                {d === sending.messages[0] && sending.waiting ? (
                  <>
                    Not sent yet · trying again
                    <span className="actions">
                      <button type="button" onClick={() => store.cancelSending(chatId)}>
                        Cancel
                      </button>
                    </span>
                  </>
                ) : (
                  "Sending…"
                )}
              </span>
            </li>
          ))}
      </ol>
      <div ref={endRef} />
      <p className="typing" aria-live="polite" data-testid="typing">
        {typing ? `${name} is typing…` : ""}
      </p>
      {c.canSend ? (
        <form className="composer" onSubmit={send}>
          {!editing && composing.files.length > 0 && (
            <ul className="pending" aria-label="Attachments to send">
              {composing.files.map((f) => (
                <li key={f.fileId}>
                  {f.name}{" "}
                  <button type="button" onClick={() => { store.removeComposingFile(chatId, f.fileId); void media.deleteFile({ fileId: f.fileId }).catch(() => undefined); }} aria-label={`Remove ${f.name}`}>
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
          {!editing && (
            <label className="attach">
              <span className="sr-only">Attach a file</span>
              <span aria-hidden="true">Attach</span>
              <input type="file" onChange={(e) => { void attach(e.target.files); e.target.value = ""; }} />
            </label>
          )}
          <button type="submit" className="primary">
            {editing ? "Save" : "Send"}
          </button>
          <FormError error={error ?? (editing ? null : sendError(composing.error))} />
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

/** Why the last send failed, for the composer: the field the service named, or the whole error. */
function sendError(err: unknown): string | null {
  if (err === undefined) return null;
  const fe = fieldErrors(err, ["text", "attachment_file_ids"]);
  return fe.fields.text ?? fe.fields.attachment_file_ids ?? fe.form;
}
