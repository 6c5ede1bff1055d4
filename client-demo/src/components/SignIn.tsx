import { useState, type FormEvent } from 'react';

export function SignIn(props: {
  error: string | null;
  initialName: string;
  onConnect: (name: string) => void;
}) {
  const [name, setName] = useState(props.initialName);
  const trimmed = name.trim();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (trimmed) props.onConnect(trimmed);
  };
  return (
    <form className="card signin" onSubmit={submit} aria-label="Sign in">
      <h2>Sign in</h2>
      <label htmlFor="signin-name">Name</label>
      <input
        id="signin-name"
        name="name"
        autoComplete="nickname"
        maxLength={64}
        autoFocus
        value={name}
        onChange={(e) => setName(e.target.value)}
      />
      <button type="submit" disabled={!trimmed}>
        Connect
      </button>
      {props.error && (
        <p className="error" role="alert" data-testid="signin-error">
          Connection refused: {props.error}
        </p>
      )}
    </form>
  );
}
