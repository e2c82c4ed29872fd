import { useStore } from "./hooks";

export function ChatList({ onOpen }: { onOpen: (chatId: string) => void }) {
  const chats = useStore((s) => s.chats);
  const active = useStore((s) => s.activeChatId);
  const me = useStore((s) => s.me);
  const composing = useStore((s) => s.composing);
  const sending = useStore((s) => s.sending);
  return (
    <section className="chat-list" aria-label="Chats">
      <h2>Chats</h2>
      {chats.length === 0 && <p>No chats yet. Become friends with someone under People to start one.</p>}
      <ul>
        {chats.map((c) => {
          const last = c.lastMessage;
          const preview = !last ? "" : last.deleted ? "Message deleted" : (last.senderId === me?.userId ? "You: " : "") + (last.text || (last.attachments.length ? "Attachment" : ""));
          // A chat not on screen says first what of the person's is not sent: a message waiting
          // to be tried again, one on its way, one refused (back in the composer) or a draft —
          // it would otherwise go unnoticed.
          const onScreen = c.chatId === active;
          const queued = onScreen ? undefined : sending[c.chatId];
          const written = onScreen ? undefined : composing[c.chatId];
          const draft = written && (written.text.trim() || written.files.length) ? written : undefined;
          const unsent = queued
            ? { label: queued.waiting ? "Waiting to send:" : "Sending:", text: queued.messages[0].text }
            : draft && { label: draft.error !== undefined ? "Not sent:" : "Draft:", text: draft.text.trim() };
          const unread = Number(c.unreadCount);
          const name = c.peer?.nickname || "Deleted account";
          return (
            <li key={c.chatId}>
              <button className={"chat-item" + (c.chatId === active ? " active" : "")} aria-current={c.chatId === active ? "true" : undefined} onClick={() => onOpen(c.chatId)} data-testid="chat-item" data-chat-id={c.chatId}>
                {c.peer?.avatarThumbnailUrl ? <img className="avatar" src={c.peer.avatarThumbnailUrl} alt="" /> : <span className="avatar" aria-hidden="true">{name.slice(0, 1).toUpperCase()}</span>}
                <span className="chat-name">{name}</span>
                <span className="chat-preview">
                  {unsent ? (
                    <>
                      <span className="draft">{unsent.label}</span> {unsent.text || "Attachment"}
                    </>
                  ) : (
                    preview
                  )}
                </span>
                {unread > 0 && (
                  <span className="badge" aria-label={`${unread} unread`} data-testid="chat-unread">
                    {unread}
                  </span>
                )}
              </button>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
