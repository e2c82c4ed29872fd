import { useEffect, useRef, useState, type FormEvent } from "react";
import { Code, ConnectError } from "@connectrpc/connect";
import type { SecondFactorChallenge } from "../gen/parley/auth/v1/auth_pb";
import { authPublic, session } from "../lib/api";
import { grant } from "../lib/session";
import { describe, fieldErrors, type FieldErrors } from "../lib/errors";
import { Field, FormError } from "./Field";

const NO_ERRORS: FieldErrors = { fields: {}, form: null };
const OAUTH_STATE_KEY = "parley.oauth.state";

function callbackUri(): string {
  return new URL("/oauth/callback", location.origin).toString();
}

/** The sign-in and sign-up screen. `notice` is shown above the form (a changed password);
 * `forgot` opens it on asking for a password-reset link. */
export function AuthScreen({ notice, forgot: startForgot = false }: { notice?: string; forgot?: boolean } = {}) {
  const [mode, setMode] = useState<"signin" | "signup">("signin");
  const [forgot, setForgot] = useState(startForgot);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [nickname, setNickname] = useState("");
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [busy, setBusy] = useState(false);
  const [providers, setProviders] = useState<{ id: string; displayName: string }[]>([]);
  const [challenge, setChallenge] = useState<SecondFactorChallenge | null>(null);

  useEffect(() => {
    authPublic
      .listOAuthProviders({})
      .then((r) => setProviders(r.providers))
      .catch(() => setProviders([]));
  }, []);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setErrors(NO_ERRORS);
    try {
      if (mode === "signup") {
        const r = await authPublic.register({ email, password, nickname });
        session.signedIn(grant(r.userId, r.tokens));
      } else {
        const r = await authPublic.login({ email, password });
        if (r.secondFactor) {
          setChallenge(r.secondFactor);
          return;
        }
        session.signedIn(grant(r.userId, r.tokens));
      }
    } catch (err) {
      setErrors(fieldErrors(err, ["email", "password", "nickname"]));
    } finally {
      setBusy(false);
    }
  }

  async function oauth(providerId: string) {
    setErrors(NO_ERRORS);
    try {
      const r = await authPublic.beginOAuth({ providerId, redirectUri: callbackUri() });
      sessionStorage.setItem(OAUTH_STATE_KEY, r.state);
      location.assign(r.authorizationUrl);
    } catch (err) {
      setErrors({ fields: {}, form: describe(err) });
    }
  }

  if (challenge) {
    return (
      <main className="auth">
        <h1>Parley</h1>
        <TwoFactorForm
          challenge={challenge}
          onCancel={() => {
            setChallenge(null);
            setPassword("");
          }}
        />
      </main>
    );
  }

  if (forgot) {
    return (
      <main className="auth">
        <h1>Parley</h1>
        <ForgotPassword initialEmail={email} onBack={() => setForgot(false)} />
      </main>
    );
  }

  const signup = mode === "signup";
  return (
    <main className="auth">
      <h1>Parley</h1>
      {notice && (
        <p role="status" className="notice">
          {notice}
        </p>
      )}
      <div className="tabs" role="tablist" aria-label="Account">
        <button role="tab" aria-selected={!signup} onClick={() => setMode("signin")}>
          Sign in
        </button>
        <button role="tab" aria-selected={signup} onClick={() => setMode("signup")}>
          Sign up
        </button>
      </div>
      <form onSubmit={submit} aria-label={signup ? "Sign up" : "Sign in"} noValidate>
        <Field label="Email" type="email" name="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} error={errors.fields.email} />
        <Field
          label="Password"
          type="password"
          name="password"
          autoComplete={signup ? "new-password" : "current-password"}
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={errors.fields.password}
        />
        {signup && (
          <Field label="Nickname" name="nickname" autoComplete="username" required value={nickname} onChange={(e) => setNickname(e.target.value)} error={errors.fields.nickname} />
        )}
        <FormError error={errors.form} />
        <button type="submit" className="primary" disabled={busy}>
          {signup ? "Create account" : "Sign in"}
        </button>
        {!signup && (
          <button type="button" className="link" onClick={() => setForgot(true)}>
            Forgot your password?
          </button>
        )}
      </form>
      {providers.length > 0 && (
        <div className="oauth">
          {providers.map((p) => (
            <button key={p.id} onClick={() => void oauth(p.id)}>
              Sign in with {p.displayName}
            </button>
          ))}
        </div>
      )}
    </main>
  );
}

/** Asks for a password-reset link. The answer is the same whether or not an account has the address
 * (docs/auth.md), so the message is too. */
function ForgotPassword({ initialEmail, onBack }: { initialEmail: string; onBack: () => void }) {
  const [email, setEmail] = useState(initialEmail);
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setErrors(NO_ERRORS);
    setSent(false);
    try {
      await authPublic.requestPasswordReset({ email: email.trim() });
      setSent(true);
    } catch (err) {
      setErrors(fieldErrors(err, ["email"]));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} aria-label="Reset your password" noValidate>
      <h2>Reset your password</h2>
      <p>Enter your account's email address and we will send you a link to choose a new password.</p>
      <Field label="Email" type="email" name="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} error={errors.fields.email} />
      <FormError error={errors.form} />
      <p role="status">{sent ? "If an account exists for that address, we sent a link to it. It works for 30 minutes." : ""}</p>
      <button type="submit" className="primary" disabled={busy}>
        Send the link
      </button>
      <button type="button" onClick={onBack}>
        Back to sign in
      </button>
    </form>
  );
}

/** The page of a password-reset email's link: a new password for the token. A used, replaced or
 * expired link shows the API's reason and leads to asking for a new one. */
export function ResetPassword({ token, signedIn, onDone }: { token: string; signedIn: boolean; onDone: (r: { changed: boolean }) => void }) {
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [invalidLink, setInvalidLink] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setErrors(NO_ERRORS);
    try {
      await authPublic.resetPassword({ resetToken: token, newPassword: password });
      onDone({ changed: true });
    } catch (err) {
      if (err instanceof ConnectError && err.code === Code.Unauthenticated) setInvalidLink(err.rawMessage);
      else setErrors(fieldErrors(err, ["new_password"]));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="auth">
      <h1>Parley</h1>
      {invalidLink ? (
        <>
          <h2>Reset your password</h2>
          <FormError error={invalidLink} />
          {/* Signed in, the password is changed in Account; a new link is asked for signed out. */}
          <button className="primary" onClick={() => onDone({ changed: false })}>
            {signedIn ? "Back to Parley" : "Ask for a new link"}
          </button>
        </>
      ) : (
        <form onSubmit={submit} aria-label="Choose a new password" noValidate>
          <h2>Choose a new password</h2>
          <Field
            label="New password"
            type="password"
            name="new_password"
            autoComplete="new-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            error={errors.fields.new_password}
          />
          <FormError error={errors.form} />
          <button type="submit" className="primary" disabled={busy}>
            Set the new password
          </button>
        </form>
      )}
    </main>
  );
}

/** The second step of a sign-in with two-factor authentication on: a code from the authenticator
 * app, or one of the recovery codes. */
function TwoFactorForm({ challenge, onCancel, onSignedIn }: { challenge: SecondFactorChallenge; onCancel: () => void; onSignedIn?: () => void }) {
  const canRecover = challenge.methods.includes("recovery_code");
  const [recovery, setRecovery] = useState(false);
  const [value, setValue] = useState("");
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const field = recovery ? "recovery_code" : "code";

  useEffect(() => input.current?.focus(), [recovery]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setErrors(NO_ERRORS);
    try {
      const v = value.trim();
      const r = await authPublic.completeTwoFactor({ challenge: challenge.challenge, code: recovery ? "" : v, recoveryCode: recovery ? v : "" });
      session.signedIn(grant(r.userId, r.tokens));
      onSignedIn?.();
    } catch (err) {
      // "not correct", "already used", "challenge … expired; sign in again": next to the code.
      setErrors(fieldErrors(err, ["code", "recovery_code"], field));
    } finally {
      setBusy(false);
    }
  }

  function switchMethod() {
    setRecovery(!recovery);
    setValue("");
    setErrors(NO_ERRORS);
  }

  return (
    <form onSubmit={submit} aria-label="Two-factor sign-in" noValidate>
      <p>This account has two-factor authentication on.</p>
      {recovery ? (
        <Field ref={input} label="Recovery code" name="recovery_code" autoComplete="off" required value={value} onChange={(e) => setValue(e.target.value)} error={errors.fields.recovery_code} />
      ) : (
        <Field ref={input} label="Code from your authenticator app" name="code" inputMode="numeric" autoComplete="one-time-code" required value={value} onChange={(e) => setValue(e.target.value)} error={errors.fields.code} />
      )}
      <FormError error={errors.form} />
      <button type="submit" className="primary" disabled={busy}>
        Verify
      </button>
      {canRecover && (
        <button type="button" onClick={switchMethod}>
          {recovery ? "Use a code from the app" : "Use a recovery code"}
        </button>
      )}
      <button type="button" onClick={onCancel}>
        Start again
      </button>
    </form>
  );
}

let completing = false;

/** The identity provider sent the browser back: finish the sign-in. */
export function OAuthCallback({ onDone }: { onDone: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const [challenge, setChallenge] = useState<SecondFactorChallenge | null>(null);
  useEffect(() => {
    if (completing) return;
    completing = true;
    const q = new URLSearchParams(location.search);
    const state = q.get("state") ?? "";
    const code = q.get("code") ?? "";
    const expected = sessionStorage.getItem(OAUTH_STATE_KEY);
    sessionStorage.removeItem(OAUTH_STATE_KEY);
    // The code must not stay in the address bar or the history.
    history.replaceState(null, "", "/");
    if (q.get("error")) {
      setError(`Sign-in was cancelled (${q.get("error")}).`);
      return;
    }
    if (!state || state !== expected) {
      setError("This sign-in link was not started here; start again.");
      return;
    }
    authPublic
      .completeOAuth({ state, code })
      .then((r) => {
        if (r.secondFactor) {
          setChallenge(r.secondFactor);
          return;
        }
        session.signedIn(grant(r.userId, r.tokens));
        onDone();
      })
      .catch((err) => setError(describe(err)));
  }, [onDone]);
  return (
    <main className="auth">
      <h1>Parley</h1>
      {challenge ? (
        <TwoFactorForm challenge={challenge} onCancel={onDone} onSignedIn={onDone} />
      ) : error ? (
        <>
          <FormError error={error} />
          <button onClick={onDone}>Back to sign in</button>
        </>
      ) : (
        <p role="status">Signing you in…</p>
      )}
    </main>
  );
}
