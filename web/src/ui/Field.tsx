import { useId, type ComponentProps } from "react";

// A labelled input with its error right below it, tied to it for screen readers.
export function Field(props: { label: string; error?: string } & ComponentProps<"input">) {
  const { label, error, ...rest } = props;
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} aria-invalid={error ? true : undefined} aria-describedby={error ? id + "-err" : undefined} {...rest} />
      {error && (
        <p className="error" id={id + "-err"} role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

export function FormError({ error }: { error: string | null | undefined }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {error}
    </p>
  );
}
