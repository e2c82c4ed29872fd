import { useEffect, useState, type FormEvent } from "react";
import type { Account as AccountInfo, Session as SignIn } from "../gen/parley/auth/v1/auth_pb";
import { auth } from "../lib/api";
import { describe, fieldErrors, type FieldErrors } from "../lib/errors";
import * as store from "../lib/store";
import { Field, FormError } from "./Field";

// What AuthService lets a signed-in person do with their account: see and end their sessions,
// change the password, turn two-factor authentication on and off, delete the account.

const NO_ERRORS: FieldErrors = { fields: {}, form: null };

export function AccountScreen({ onSignedOut }: { onSignedOut: () => Promise<void> }) {
  const [account, setAccount] = useState<AccountInfo | null>(null);
  const [error, setError] = useState<string | null>(null);

  const reload = () =>
    auth
      .getMe({})
      .then((r) => setAccount(r.account ?? null))
      .catch((err) => setError(describe(err)));
  useEffect(() => {
    void reload();
  }, []);

  return (
    <main className="account">
      <h2>Account</h2>
      <FormError error={error} />
      {account && <p>Signed in as {account.email}</p>}
      {account && account.email && !account.emailVerified && <ConfirmEmail email={account.email} />}
      <Sessions onSignedOut={onSignedOut} />
      <ChangePassword />
      {account && <TwoFactor account={account} onChange={reload} />}
      {account && <DeleteAccount account={account} onSignedOut={onSignedOut} />}
    </main>
  );
}

/** An unconfirmed address gets no notification emails (docs/auth.md): a new confirmation email,
 * whose link ends the earlier ones. */
function ConfirmEmail({ email }: { email: string }) {
  const [status, setStatus] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function resend() {
    setBusy(true);
    setError(null);
    setStatus("");
    try {
      await auth.resendVerificationEmail({});
      setStatus(`We sent a new confirmation email to ${email}; the links of earlier ones no longer work.`);
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="confirm-h">
      <h3 id="confirm-h">Your email address is not confirmed</h3>
      <p>Until you open the link we emailed you, Parley sends no notifications to {email}.</p>
      <FormError error={error} />
      <p role="status">{status}</p>
      <button onClick={() => void resend()} disabled={busy}>
        Send the confirmation email again
      </button>
    </section>
  );
}

function Sessions({ onSignedOut }: { onSignedOut: () => Promise<void> }) {
  const [list, setList] = useState<SignIn[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState("");
  const [version, setVersion] = useState(0);

  useEffect(() => {
    let live = true;
    auth
      .listSessions({})
      .then((r) => live && setList(r.sessions))
      .catch((err) => live && setError(describe(err)));
    return () => {
      live = false;
    };
  }, [version]);

  async function end(s: SignIn) {
    setError(null);
    try {
      await auth.revokeSession({ sessionId: s.sessionId });
      if (s.current) {
        await onSignedOut();
        return;
      }
      setStatus("The session was ended.");
      setVersion((v) => v + 1);
    } catch (err) {
      setError(describe(err));
    }
  }

  async function endOthers() {
    setError(null);
    try {
      const r = await auth.revokeOtherSessions({});
      setStatus(r.revokedSessions === 1 ? "1 other session was ended." : `${r.revokedSessions} other sessions were ended.`);
      setVersion((v) => v + 1);
    } catch (err) {
      setError(describe(err));
    }
  }

  return (
    <section aria-labelledby="sessions-h">
      <h3 id="sessions-h">Where you are signed in</h3>
      <FormError error={error} />
      <p role="status">{status}</p>
      {list && (
        <ul className="sessions">
          {list.map((s) => (
            <li key={s.sessionId} data-testid="session">
              <span id={"session-" + s.sessionId}>
                {s.current && <strong>This device · </strong>}
                {describeSession(s)}
              </span>{" "}
              <button onClick={() => void end(s)} aria-describedby={"session-" + s.sessionId}>
                {s.current ? "Sign out here" : "End session"}
              </button>
            </li>
          ))}
        </ul>
      )}
      {list && list.length > 1 && <button onClick={() => void endOthers()}>Sign out everywhere else</button>}
    </section>
  );
}

function describeSession(s: SignIn): string {
  const how = s.method === "password" ? "password" : s.method.replace(/^oauth:/, "sign in with ");
  const parts = [browserName(s.userAgent), how];
  if (s.clientNetwork) parts.push("from " + s.clientNetwork);
  if (s.lastUsedAt) parts.push("last active " + store.formatDateTime(s.lastUsedAt));
  return parts.join(" · ");
}

/** A short name for a User-Agent ("Chrome on Linux"); its start when nothing matches. */
function browserName(ua: string): string {
  if (!ua) return "Unknown browser";
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrom(e|ium)\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : null;
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Windows/.test(ua) ? "Windows" : /Mac OS X/.test(ua) ? "macOS" : /Linux/.test(ua) ? "Linux" : null;
  if (!browser) return ua.slice(0, 60);
  return os ? `${browser} on ${os}` : browser;
}

function ChangePassword() {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [status, setStatus] = useState("");

  async function submit(e: FormEvent) {
    e.preventDefault();
    setErrors(NO_ERRORS);
    setStatus("");
    try {
      const r = await auth.changePassword({ currentPassword: current, newPassword: next });
      setCurrent("");
      setNext("");
      setStatus(r.revokedSessions > 0 ? `Password changed; ${r.revokedSessions} other session(s) were signed out.` : "Password changed.");
    } catch (err) {
      setErrors(fieldErrors(err, ["current_password", "new_password"]));
    }
  }

  return (
    <form onSubmit={submit} aria-label="Change password" noValidate>
      <h3>Password</h3>
      <Field label="Current password" type="password" name="current_password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} error={errors.fields.current_password} />
      <Field label="New password" type="password" name="new_password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} error={errors.fields.new_password} />
      <FormError error={errors.form} />
      <button type="submit">Change password</button>
      <p role="status">{status}</p>
    </form>
  );
}

function TwoFactor({ account, onChange }: { account: AccountInfo; onChange: () => void }) {
  const [enrolment, setEnrolment] = useState<{ secret: string; uri: string } | null>(null);
  const [recoveryCodes, setRecoveryCodes] = useState<string[] | null>(null);
  const [code, setCode] = useState("");
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);

  async function enrol() {
    setErrors(NO_ERRORS);
    setRecoveryCodes(null);
    try {
      const r = await auth.enrollTOTP({});
      setEnrolment({ secret: r.secret, uri: r.otpauthUri });
    } catch (err) {
      setErrors(fieldErrors(err));
    }
  }

  async function confirm(e: FormEvent) {
    e.preventDefault();
    setErrors(NO_ERRORS);
    try {
      const r = await auth.confirmTOTP({ code: code.trim() });
      setEnrolment(null);
      setCode("");
      setRecoveryCodes(r.recoveryCodes);
      onChange();
    } catch (err) {
      setErrors(fieldErrors(err, ["code"]));
    }
  }

  async function disable(e: FormEvent) {
    e.preventDefault();
    setErrors(NO_ERRORS);
    try {
      await auth.disableTOTP({ currentPassword: password, code: password ? "" : code.trim() });
      setPassword("");
      setCode("");
      setRecoveryCodes(null);
      onChange();
    } catch (err) {
      setErrors(fieldErrors(err, ["current_password", "code"]));
    }
  }

  return (
    <section aria-labelledby="totp-h">
      <h3 id="totp-h">Two-factor authentication</h3>
      {recoveryCodes && (
        <div>
          <p>Two-factor authentication is on. Keep these recovery codes somewhere safe: each signs you in once if you lose the app. They are not shown again.</p>
          <ul className="recovery-codes" data-testid="recovery-codes">
            {recoveryCodes.map((c) => (
              <li key={c}>
                <code>{c}</code>
              </li>
            ))}
          </ul>
        </div>
      )}
      {account.totpEnabled ? (
        <form onSubmit={disable} aria-label="Turn off two-factor authentication" noValidate>
          <p>
            On: signing in asks for a code from your authenticator app ({account.recoveryCodesRemaining} recovery codes left).
          </p>
          <Field label="Current password" type="password" name="current_password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} error={errors.fields.current_password} />
          <Field label="Or, for an account without a password, a code from the app" name="code" inputMode="numeric" autoComplete="one-time-code" value={code} onChange={(e) => setCode(e.target.value)} error={errors.fields.code} />
          <FormError error={errors.form} />
          <button type="submit">Turn off two-factor authentication</button>
        </form>
      ) : enrolment ? (
        <form onSubmit={confirm} aria-label="Confirm the authenticator app" noValidate>
          <p>
            Add Parley to your authenticator app with this key, or <a href={enrolment.uri}>open it in the app</a>:
          </p>
          <p>
            <code data-testid="totp-secret">{enrolment.secret}</code>
          </p>
          <Field label="The code the app shows" name="code" inputMode="numeric" autoComplete="one-time-code" value={code} onChange={(e) => setCode(e.target.value)} error={errors.fields.code} />
          <FormError error={errors.form} />
          <button type="submit">Turn on</button>
          <button type="button" onClick={() => setEnrolment(null)}>
            Cancel
          </button>
        </form>
      ) : (
        <>
          <p>Off: your password alone signs you in.</p>
          <FormError error={errors.form} />
          <button onClick={() => void enrol()}>Set up an authenticator app</button>
        </>
      )}
    </section>
  );
}

function DeleteAccount({ account, onSignedOut }: { account: AccountInfo; onSignedOut: () => Promise<void> }) {
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [sure, setSure] = useState(false);
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setErrors(NO_ERRORS);
    if (!sure) {
      setErrors({ fields: { sure: "Tick this to confirm." }, form: null });
      return;
    }
    try {
      // A code of 6 digits is the app's; anything else is taken for a recovery code.
      const c = code.trim();
      const app = /^\d{6}$/.test(c);
      await auth.deleteAccount({ password, code: app ? c : "", recoveryCode: app ? "" : c });
      await onSignedOut();
    } catch (err) {
      const fe = fieldErrors(err, ["password", "code", "recovery_code"]);
      if (fe.fields.recovery_code) fe.fields.code = fe.fields.code ? `${fe.fields.code}; ${fe.fields.recovery_code}` : fe.fields.recovery_code;
      setErrors(fe);
    }
  }

  return (
    <form onSubmit={submit} aria-label="Delete account" noValidate className="danger">
      <h3>Delete your account</h3>
      <p>Your profile, friends, messages and files are erased. This cannot be undone.</p>
      <Field label="Password (empty if you sign in with a provider)" type="password" name="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} error={errors.fields.password} />
      {account.totpEnabled && (
        <Field label="Code from your authenticator app, or a recovery code" name="code" autoComplete="one-time-code" value={code} onChange={(e) => setCode(e.target.value)} error={errors.fields.code} />
      )}
      <div className="field">
        <label>
          <input type="checkbox" checked={sure} onChange={(e) => setSure(e.target.checked)} aria-invalid={errors.fields.sure ? true : undefined} aria-describedby={errors.fields.sure ? "delete-sure-err" : undefined} /> I understand that
          this deletes my account for good
        </label>
        {errors.fields.sure && (
          <p className="error" id="delete-sure-err" role="alert">
            {errors.fields.sure}
          </p>
        )}
      </div>
      <FormError error={errors.form} />
      <button type="submit" className="danger">
        Delete my account
      </button>
    </form>
  );
}
