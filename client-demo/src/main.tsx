import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { ChatClient } from './net/chatClient';
import { StompCompare } from './net/stompCompare';
import './styles.css';

const client = new ChatClient();
// The Socket.IO vs STOMP pane appears when /config.json names a Web-STOMP URL.
const compare = new StompCompare(client);
void client.loadConfig().then((config) => compare.configure(config));
// Exposed for debugging from the devtools console.
Object.assign(window as unknown as { switchboard: ChatClient; switchboardCompare: StompCompare }, {
  switchboard: client,
  switchboardCompare: compare,
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App client={client} compare={compare} />
  </StrictMode>,
);
