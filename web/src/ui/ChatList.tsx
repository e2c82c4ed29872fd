import { useStore } from "./hooks";

export function ChatList({ onOpen }: { onOpen: (chatId: string) => void }) {
  const chats = useStore((s) => s.chats);
  const active = useStore((s) => s.activeChatId);
  const me = useStore((s) => s.me);
  const composing = useStore((s) => s.composing);
  return (
    <section className="chat-list" aria-label="Chats">
      <h2>Chats</h2>
      {chats.length === 0 && <p>No chats yet. Become friends with someone under People to start one.</p>}
      <ul>
        {chats.map((c) => {
          const last = c.lastMessage;
          const preview = !last ? "" : last.deleted ? "Message deleted" : (last.senderId === me?.userId ? "You: " : "") + (last.text || (last.attachments.length ? "Attachment" : ""));
          // A chat not on screen with something written in it says so, first: a message that
          // could not be sent waits there (store.outboxFor) and would otherwise go unnoticed.
          const written = c.chatId === active ? undefined : composing[c.chatId];
          const draft = written && (written.text.trim() || written.files.length) ? written : undefined;
          const unread = Number(c.unreadCount);
          const name = c.peer?.nickname || "Deleted account";
          return (
            <li key={c.chatId}>
              <button className={"chat-item" + (c.chatId === active ? " active" : "")} aria-current={c.chatId === active ? "true" : undefined} onClick={() => onOpen(c.chatId)} data-testid="chat-item" data-chat-id={c.chatId}>
                {c.peer?.avatarThumbnailUrl ? <img className="avatar" src={c.peer.avatarThumbnailUrl} alt="" /> : <span className="avatar" aria-hidden="true">{name.slice(0, 1).toUpperCase()}</span>}
                <span className="chat-name">{name}</span>
                <span className="chat-preview">
                  {draft ? (
                    <>
                      <span className="draft">{draft.error !== undefined ? "Not sent:" : "Draft:"}</span> {draft.text.trim() || "Attachment"}
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
