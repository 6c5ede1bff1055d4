import { useEffect } from 'react';
import { ComparePane } from './components/ComparePane';
import { RoomView } from './components/RoomView';
import { Rooms } from './components/Rooms';
import { SignIn } from './components/SignIn';
import { StatusBar } from './components/StatusBar';
import { useStore } from './hooks';
import type { ChatClient } from './net/chatClient';
import type { StompCompare } from './net/stompCompare';
import { parseForcedTransport } from './state/connection';

export function App({ client, compare }: { client: ChatClient; compare: StompCompare }) {
  const conn = useStore(client.conn);
  const chat = useStore(client.chat);
  const comparison = useStore(compare.store);
  const forced = parseForcedTransport(window.location.search);

  // After a reload, sign in again with the name and rooms this tab had.
  useEffect(() => {
    if (client.conn.getState().phase !== 'signed-out') return;
    const saved = client.savedSession();
    if (saved) client.signIn(saved.name, forced, saved.rooms, saved.active, saved.own ?? []);
  }, [client, forced]);

  const signedIn = conn.phase !== 'signed-out' && conn.phase !== 'refused';
  const active = chat.active ? chat.rooms[chat.active] : null;

  return (
    <div className="app">
      <header className="topbar">
        <h1 className="brand">Switchboard</h1>
        <StatusBar conn={conn} />
        {signedIn && (
          <button type="button" className="link signout" onClick={() => client.signOut()}>
            Sign out
          </button>
        )}
      </header>
      {!signedIn ? (
        <main className="signin-wrap">
          <SignIn
            error={conn.phase === 'refused' ? conn.error : null}
            initialName={conn.name ?? ''}
            onConnect={(name) => client.signIn(name, forced)}
          />
        </main>
      ) : (
        <main className="layout">
          <Rooms chat={chat} onJoin={(r) => client.join(r)} onSelect={(r) => client.select(r)} />
          {active ? (
            <RoomView
              key={active.name}
              room={active}
              chat={chat}
              connected={conn.phase === 'connected'}
              onSend={(text) => client.send(active.name, text)}
              onInput={(text) => client.inputChanged(active.name, text)}
              onLeave={() => client.leave(active.name)}
              onRetry={(id) => client.retry(active.name, id)}
              onDiscard={(id) => client.discard(active.name, id)}
            >
              {comparison.enabled && comparison.room === active.name && (
                <ComparePane compare={comparison} conn={conn} />
              )}
            </RoomView>
          ) : (
            <section className="empty" data-testid="no-room">
              <p>Join a room to start chatting.</p>
            </section>
          )}
        </main>
      )}
    </div>
  );
}
