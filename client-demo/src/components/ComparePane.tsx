import { useEffect, useState } from 'react';
import {
  PATHS,
  isMissing,
  matchStats,
  pathStats,
  socketIoStatusLine,
  stompStatusLine,
  subscriptionLine,
  type Arrival,
  type CompareRow,
  type CompareState,
  type PathName,
  type PathStats,
} from '../state/compare';
import type { ConnectionState } from '../state/connection';

const LABEL: Record<PathName, string> = { socketio: 'Socket.IO', stomp: 'STOMP' };
const ms = (v: number | null) => (v === null ? '–' : `${v} ms`);

/** Socket.IO and STOMP side by side for the current room (only when the bridge is on). */
export function ComparePane({ compare, conn }: { compare: CompareState; conn: ConnectionState }) {
  const [open, setOpen] = useState(true);
  const waiting = compare.rows.some((r) => !r.socketio || !r.stomp);
  const now = useNow(waiting ? 1000 : null);
  const match = matchStats(compare.rows);
  const sub = compare.subscription;
  const statusOf: Record<PathName, { line: string; phase: string; detail: string | null }> = {
    socketio: { line: socketIoStatusLine(conn), phase: conn.phase, detail: conn.socketId ? `socket ${conn.socketId}` : null },
    stomp: { line: stompStatusLine(compare), phase: compare.stomp.phase, detail: subscriptionLine(compare) },
  };

  return (
    <section
      className="compare"
      aria-label="Socket.IO and STOMP compared"
      data-testid="compare"
      data-room={compare.room ?? ''}
      data-subscribed={sub?.active ? sub.destination : ''}
    >
      <details open={open} onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}>
        <summary>
          <span className="compare-title">Socket.IO vs STOMP</span>
          <span className="muted small" data-testid="compare-summary">
            {match.both} matched
            {match.p50Delta !== null &&
              ` · STOMP − Socket.IO: ${match.p50Delta >= 0 ? '+' : '−'}${Math.abs(match.p50Delta)} ms (p50)`}
          </span>
        </summary>

        <div className="compare-paths">
          {PATHS.map((path) => (
            <PathCard
              key={path}
              path={path}
              line={statusOf[path].line}
              phase={statusOf[path].phase}
              detail={statusOf[path].detail}
              stats={pathStats(compare.rows, path)}
            />
          ))}
        </div>

        <div className="compare-table-wrap">
          <table className="compare-table" data-testid="compare-table">
            <caption className="sr-only">Messages of this room on both paths, newest first, with latency (receive time minus the message time)</caption>
            <thead>
              <tr>
                <th scope="col" className="num">#</th>
                <th scope="col">Message</th>
                <th scope="col" className="num">Socket.IO</th>
                <th scope="col" className="num">STOMP</th>
                <th scope="col" className="num delta" title="STOMP latency minus Socket.IO latency">Δ</th>
              </tr>
            </thead>
            <tbody>
              {compare.rows.length === 0 && (
                <tr className="placeholder-row">
                  <td colSpan={5}>
                    {sub?.active ? 'Send a message: it shows up here once per path.' : 'Waiting for the STOMP subscription…'}
                  </td>
                </tr>
              )}
              {compare.rows.map((r) => (
                <Row key={r.id} row={r} now={now} />
              ))}
            </tbody>
          </table>
        </div>
        {(match.onlySocketio > 0 || match.onlyStomp > 0 || compare.badFrames > 0) && (
          <p className="muted small compare-foot">
            {match.onlySocketio > 0 && `${match.onlySocketio} only on Socket.IO so far. `}
            {match.onlyStomp > 0 && `${match.onlyStomp} only on STOMP so far. `}
            {compare.badFrames > 0 && `${compare.badFrames} unreadable STOMP frame(s).`}
          </p>
        )}
      </details>
    </section>
  );
}

function PathCard(props: { path: PathName; line: string; phase: string; detail: string | null; stats: PathStats }) {
  const { path, stats } = props;
  return (
    <div className={`path path-${path}`} data-testid="compare-path" data-path={path}>
      <p className="path-status" data-testid={`compare-status-${path}`} data-phase={props.phase}>
        <span className={`dot dot-${props.phase === 'idle' || props.phase === 'error' ? 'refused' : props.phase}`} aria-hidden="true" />{' '}
        <span className="mono-break">{props.line}</span>
      </p>
      <p className="path-detail muted small mono mono-break" data-testid={`compare-detail-${path}`}>
        {props.detail ?? '\u00a0'}
      </p>
      <p className="path-stats small" data-testid={`compare-stats-${path}`} data-count={stats.count} data-p50={stats.p50 ?? ''}>
        <span>
          <b>{stats.count}</b> received
        </span>
        <span>p50 {ms(stats.p50)}</span>
        <span>p95 {ms(stats.p95)}</span>
        <span>max {ms(stats.max)}</span>
      </p>
    </div>
  );
}

function Row({ row, now }: { row: CompareRow; now: number }) {
  const delta = row.socketio && row.stomp ? row.stomp.latency - row.socketio.latency : null;
  return (
    <tr data-testid="compare-row" data-id={row.id} data-seq={row.seq}>
      <td className="num seq">{row.seq}</td>
      <td className="msgcell" title={`${row.from}: ${row.text}`}>
        <span className="author">{row.from}</span> <span className="compare-text">{row.text}</span>
      </td>
      {PATHS.map((path) => (
        <LatencyCell key={path} path={path} arrival={row[path]} missing={isMissing(row, path, now)} />
      ))}
      <td className="num delta" data-testid="latency-delta">
        {delta === null ? '' : `${delta >= 0 ? '+' : '−'}${Math.abs(delta)}`}
      </td>
    </tr>
  );
}

function LatencyCell({ path, arrival, missing }: { path: PathName; arrival?: Arrival; missing: boolean }) {
  const label = LABEL[path];
  if (arrival) {
    return (
      <td className="num latency" data-testid={`latency-${path}`} data-latency={arrival.latency} aria-label={`${label}: ${arrival.latency} ms`}>
        {arrival.latency} ms
      </td>
    );
  }
  return (
    <td className={`num latency ${missing ? 'missing' : 'waiting'}`} data-testid={`latency-${path}`} data-latency="">
      {missing ? 'missing' : '…'}
    </td>
  );
}

/** The current time, refreshed every `interval` ms (null: not refreshed). */
function useNow(interval: number | null): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (interval === null) return;
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), interval);
    return () => clearInterval(t);
  }, [interval]);
  return now;
}
