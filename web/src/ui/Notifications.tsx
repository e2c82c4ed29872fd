import { useEffect, useState } from "react";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { NotificationKind, type KindPreference, type Notification } from "../gen/parley/notification/v1/notification_pb";
import { notifications, push } from "../lib/api";
import { describe } from "../lib/errors";
import { disablePush, enablePush, isSubscribed, PushError } from "../lib/push";
import * as store from "../lib/store";
import { FormError } from "./Field";
import { useStore } from "./hooks";

const KIND_NAMES: Record<number, string> = {
  [NotificationKind.FRIEND_REQUEST]: "Friend requests",
  [NotificationKind.FRIEND_ACCEPTED]: "Accepted requests",
  [NotificationKind.MESSAGE]: "Messages",
  [NotificationKind.SYSTEM]: "Account notices",
};

export function Notifications({ onOpenChat }: { onOpenChat: (chatId: string) => void }) {
  const version = useStore((s) => s.notificationsVersion);
  const [items, setItems] = useState<Notification[]>([]);
  const [kinds, setKinds] = useState<KindPreference[]>([]);
  const [emailEnabled, setEmailEnabled] = useState(false);
  const [pushEnabled, setPushEnabled] = useState(false);
  const [pushPreviews, setPushPreviews] = useState(false);
  const [error, setError] = useState<string | null>(null);

  // The list follows the notifications (version); the preferences change only here.
  useEffect(() => {
    let live = true;
    notifications
      .listNotifications({ pageSize: 50 })
      .then((l) => live && setItems(l.notifications))
      .catch((err) => live && setError(describe(err)));
    return () => {
      live = false;
    };
  }, [version]);

  useEffect(() => {
    notifications
      .getPreferences({})
      .then((p) => {
        setKinds(p.preferences?.kinds ?? []);
        setEmailEnabled(p.preferences?.emailEnabled ?? false);
        setPushEnabled(p.preferences?.pushEnabled ?? false);
        setPushPreviews(p.preferences?.pushPreviews ?? false);
      })
      .catch((err) => setError(describe(err)));
  }, []);

  async function markAll() {
    try {
      const r = await notifications.markNotificationsRead({ all: true });
      store.setUnreadNotifications(r.unreadCount);
      const now = timestampNow();
      setItems((xs) => xs.map((x) => (x.readAt ? x : { ...x, readAt: now })));
    } catch (err) {
      setError(describe(err));
    }
  }

  async function markOne(n: Notification) {
    try {
      const r = await notifications.markNotificationsRead({ notificationIds: [n.notificationId] });
      store.setUnreadNotifications(r.unreadCount);
      const now = timestampNow();
      setItems((xs) => xs.map((x) => (x.notificationId === n.notificationId && !x.readAt ? { ...x, readAt: now } : x)));
      if (n.kind === NotificationKind.MESSAGE && n.subjectId) onOpenChat(n.subjectId);
    } catch (err) {
      setError(describe(err));
    }
  }

  async function updateKind(k: KindPreference, field: "inApp" | "email", value: boolean) {
    try {
      const r = await notifications.updatePreferences({ kinds: [{ ...k, [field]: value }] });
      setKinds(r.preferences?.kinds ?? []);
    } catch (err) {
      setError(describe(err));
    }
  }

  async function updateSwitch(field: "emailEnabled" | "pushEnabled" | "pushPreviews", value: boolean) {
    try {
      const r = await notifications.updatePreferences({ [field]: value });
      setEmailEnabled(r.preferences?.emailEnabled ?? false);
      setPushEnabled(r.preferences?.pushEnabled ?? false);
      setPushPreviews(r.preferences?.pushPreviews ?? false);
    } catch (err) {
      setError(describe(err));
    }
  }

  return (
    <main className="notifications">
      <h2>Notifications</h2>
      <FormError error={error} />
      <button onClick={() => void markAll()}>Mark all as read</button>
      <ul data-testid="notifications">
        {items.length === 0 && <li>Nothing yet.</li>}
        {items.map((n) => (
          <li key={n.notificationId} className={n.readAt ? "read" : "unread"} data-testid="notification">
            <button onClick={() => void markOne(n)}>
              <strong>{n.title}</strong>
              {n.count > 1 ? ` (${n.count})` : ""} {n.body && <span>{n.body}</span>}
              {!n.readAt && <span className="sr-only"> (unread)</span>}
            </button>
          </li>
        ))}
      </ul>
      <section aria-label="Notification preferences">
        <h3>Preferences</h3>
        <div className="switch">
          <label>
            <input type="checkbox" checked={emailEnabled} onChange={(e) => void updateSwitch("emailEnabled", e.target.checked)} /> Email me
          </label>
        </div>
        <DevicePush />
        <div className="switch">
          <label>
            <input type="checkbox" aria-describedby="push-enabled-hint" checked={pushEnabled} onChange={(e) => void updateSwitch("pushEnabled", e.target.checked)} /> Push
            notifications
          </label>
          <p id="push-enabled-hint" className="hint">To every device where they are on.</p>
        </div>
        <div className="switch">
          <label>
            <input type="checkbox" aria-describedby="push-previews-hint" checked={pushPreviews} onChange={(e) => void updateSwitch("pushPreviews", e.target.checked)} /> Show
            message text in push notifications
          </label>
          <p id="push-previews-hint" className="hint">
            Push notifications pass through your browser maker's push service; without this they say who wrote, not what.
          </p>
        </div>
        <table>
          <thead>
            <tr>
              <th scope="col">Kind</th>
              <th scope="col">In the app</th>
              <th scope="col">By email</th>
            </tr>
          </thead>
          <tbody>
            {kinds.map((k) => (
              <tr key={k.kind}>
                <th scope="row">{KIND_NAMES[k.kind] ?? NotificationKind[k.kind]}</th>
                <td>
                  <input type="checkbox" aria-label={`${KIND_NAMES[k.kind]} in the app`} checked={k.inApp} onChange={(e) => void updateKind(k, "inApp", e.target.checked)} />
                </td>
                <td>
                  <input type="checkbox" aria-label={`${KIND_NAMES[k.kind]} by email`} checked={k.email} onChange={(e) => void updateKind(k, "email", e.target.checked)} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </main>
  );
}

/** "Push notifications on this device": the permission prompt comes only from this switch. */
function DevicePush() {
  const [on, setOn] = useState(false);
  const [busy, setBusy] = useState(true);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    isSubscribed(push)
      .then(setOn, () => setOn(false))
      .finally(() => setBusy(false));
  }, []);

  async function toggle(value: boolean) {
    setBusy(true);
    setError(null);
    try {
      await (value ? enablePush(push) : disablePush(push));
      setOn(value);
    } catch (err) {
      setError(err instanceof PushError ? err.message : describe(err));
      setOn(await isSubscribed(push).catch(() => false));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="switch device-push">
      <label>
        <input
          type="checkbox"
          checked={on}
          disabled={busy || !push.supported}
          aria-describedby={error ? "device-push-error" : undefined}
          onChange={(e) => void toggle(e.target.checked)}
        />{" "}
        Push notifications on this device
      </label>
      {!push.supported && <p>This browser cannot receive push notifications.</p>}
      {error && (
        <p id="device-push-error" role="alert" className="error">
          {error}
        </p>
      )}
    </div>
  );
}
