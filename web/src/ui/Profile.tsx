import { useEffect, useState, type FormEvent } from "react";
import { FilePurpose } from "../gen/parley/media/v1/media_pb";
import { profiles } from "../lib/api";
import { describe, fieldErrors, type FieldErrors } from "../lib/errors";
import * as store from "../lib/store";
import { AVATAR_TYPES, precheck, upload } from "../lib/upload";
import { Field, FormError } from "./Field";
import { useStore } from "./hooks";

export function ProfileScreen() {
  const me = useStore((s) => s.me);
  const [nickname, setNickname] = useState(me?.nickname ?? "");
  const [about, setAbout] = useState(me?.about ?? "");
  const [errors, setErrors] = useState<FieldErrors>({ fields: {}, form: null });
  const [saved, setSaved] = useState("");
  const [progress, setProgress] = useState<number | null>(null);
  const [avatarError, setAvatarError] = useState<string | null>(null);

  useEffect(() => {
    setNickname(me?.nickname ?? "");
    setAbout(me?.about ?? "");
  }, [me?.userId]);

  if (!me) return <p role="status">Loading…</p>;

  async function save(e: FormEvent) {
    e.preventDefault();
    setErrors({ fields: {}, form: null });
    setSaved("");
    try {
      const r = await profiles.updateProfile({ nickname, about });
      if (r.profile) store.setMe(r.profile);
      setSaved("Saved.");
    } catch (err) {
      setErrors(fieldErrors(err, ["nickname", "about"]));
    }
  }

  async function avatar(files: FileList | null) {
    const f = files?.[0];
    if (!f) return;
    setAvatarError(null);
    const pre = precheck(f, FilePurpose.AVATAR);
    if (pre) {
      setAvatarError(pre);
      return;
    }
    try {
      setProgress(0);
      const file = await upload(f, FilePurpose.AVATAR, "", setProgress);
      const r = await profiles.setAvatar({ fileId: file.fileId });
      if (r.profile) store.setMe(r.profile);
    } catch (err) {
      setAvatarError(describe(err));
    } finally {
      setProgress(null);
    }
  }

  const src = me.avatar?.thumbnail256Url || me.avatar?.url;
  return (
    <main className="profile">
      <h2>Profile</h2>
      <div className="avatar-edit">
        {src ? <img className="avatar-large" src={src} alt="Your avatar" data-testid="avatar" /> : <span className="avatar-large" aria-hidden="true">{me.nickname.slice(0, 1).toUpperCase()}</span>}
        <div className="field">
          <label htmlFor="avatar-file">Avatar (JPEG, PNG or WebP, up to 5 MiB)</label>
          <input id="avatar-file" type="file" accept={AVATAR_TYPES.join(",")} aria-describedby={avatarError ? "avatar-err" : undefined} onChange={(e) => { void avatar(e.target.files); e.target.value = ""; }} />
          {progress !== null && <progress max={1} value={progress} aria-label="Upload progress" />}
          {avatarError && (
            <p className="error" id="avatar-err" role="alert">
              {avatarError}
            </p>
          )}
        </div>
      </div>
      <form onSubmit={save} aria-label="Profile">
        <Field label="Nickname" name="nickname" value={nickname} onChange={(e) => setNickname(e.target.value)} error={errors.fields.nickname} />
        {me.requestedNickname && me.requestedNickname !== me.nickname && <p>The nickname “{me.requestedNickname}” you asked for was taken.</p>}
        <div className="field">
          <label htmlFor="about">About</label>
          <textarea id="about" value={about} onChange={(e) => setAbout(e.target.value)} aria-invalid={errors.fields.about ? true : undefined} aria-describedby={errors.fields.about ? "about-err" : undefined} />
          {errors.fields.about && (
            <p className="error" id="about-err" role="alert">
              {errors.fields.about}
            </p>
          )}
        </div>
        <FormError error={errors.form} />
        <button type="submit" className="primary">
          Save
        </button>
        <p role="status">{saved}</p>
      </form>
    </main>
  );
}
