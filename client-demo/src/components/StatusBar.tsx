import type { ConnectionState } from '../state/connection';

const LABEL: Record<ConnectionState['phase'], string> = {
  'signed-out': 'signed out',
  connecting: 'connecting',
  connected: 'connected',
  reconnecting: 'reconnecting',
  refused: 'refused',
};

export function StatusBar({ conn }: { conn: ConnectionState }) {
  return (
    <div
      className="status"
      role="status"
      aria-live="polite"
      data-testid="status"
      data-phase={conn.phase}
      data-last-disconnect={conn.lastDisconnect ?? ''}
    >
      <span className={`dot dot-${conn.phase}`} aria-hidden="true" />
      <span data-testid="conn-status">{LABEL[conn.phase]}</span>
      {conn.phase !== 'signed-out' && (
        <>
          <span className="sep" aria-hidden="true">·</span>
          <span className="muted">transport</span>{' '}
          <span data-testid="transport" data-transport={conn.transport ?? ''} className="mono">
            {conn.transport ?? 'none'}
          </span>
          {conn.forced && <span className="muted"> (forced)</span>}
        </>
      )}
      {conn.phase === 'reconnecting' && (
        <>
          <span className="sep" aria-hidden="true">·</span>
          <span data-testid="reconnect-attempt" data-attempt={conn.attempt}>
            {conn.attempt > 0 ? `attempt ${conn.attempt}` : 'connection lost'}
          </span>
        </>
      )}
      {conn.reconnects > 0 && (
        <>
          <span className="sep" aria-hidden="true">·</span>
          <span data-testid="reconnects" data-count={conn.reconnects}>
            reconnected {conn.reconnects}×
          </span>
        </>
      )}
      {conn.name && conn.phase !== 'refused' && (
        <>
          <span className="sep" aria-hidden="true">·</span>
          <span data-testid="me" className="me">
            {conn.name}
          </span>
        </>
      )}
    </div>
  );
}
